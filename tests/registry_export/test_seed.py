"""Seeding a synthetic municipality through the journal's real API: what lands on
``journal.events`` are the journal's own events, and folded they give people with grants,
refusals, IPLOS assessments and diagnoses."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer

from cli.manifests import registry
from libs.access.model import Role
from services.registry_export.domain.person import fold
from services.registry_export.seed import seed_municipality
from tests.journal.conftest import ALLOCATION, HOME_CARE, running_clinic

PERSONS = 8


async def read_all(bootstrap: str, topic: str, until) -> list:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    got: list = []
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while not until(got) and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            got += [r.value for rs in batch.values() for r in rs]
        return got
    finally:
        await consumer.stop()


async def test_seeding_goes_through_the_journal(database_url, kafka_bootstrap, unique,
                                                make_topics, tmp_path):
    async with running_clinic(database_url, kafka_bootstrap, unique, make_topics,
                              tmp_path) as clinic:
        done = await seed_municipality(
            clinic.journal, persons=PERSONS, municipality="0301", others=("3201",),
            case_worker=clinic.pro("5550001", ALLOCATION, (Role.other,)),
            today=datetime.now(UTC).date(), seed=3, provider=HOME_CARE)
        again = await seed_municipality(
            clinic.journal, persons=2, municipality="0301", others=("3201",),
            case_worker=clinic.pro("5550001", ALLOCATION, (Role.other,)),
            today=datetime.now(UTC).date(), seed=3, provider=HOME_CARE)
        topic = f"journal.events.{unique}"
        reg = registry()
        wanted = done["granted"] + done["refused"]

        def complete(raw: list) -> bool:
            types = [reg.decode(r)[0].type for r in raw]
            return (types.count("journal.ServiceGranted")
                    + types.count("journal.ServiceRefused")) >= wanted
        raw = await read_all(kafka_bootstrap, topic, complete)
    assert done["persons"] == PERSONS and again == {"already_there": 2}
    people: dict = {}
    for r in raw:
        env, payload = reg.decode(r)
        changed = fold(people.get(str(env.patient_id)), env, payload)
        if changed is not None:
            people[changed.patient_id] = changed
    assert len(people) == PERSONS
    statuses = [s.status for p in people.values() for s in p.services.values()]
    assert statuses.count("granted") == done["granted"] > 0
    assert statuses.count("refused") == done["refused"]
    assert all(p.iplos for p in people.values())
    assert sum(len(p.diagnoses) for p in people.values()) == done["diagnoses"] > 0
