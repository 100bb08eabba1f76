"""The faust worker on a real broker and PostgreSQL: it folds the five topics into its parts,
sends what it cannot use to the DLQ with a reason and goes on, and its parts agree with a
from-scratch fold."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime

from aiokafka import AIOKafkaConsumer

from libs.config import Settings
from libs.devstack.procs import free_port
from services.medication import contract as med
from services.registry_export.domain.kpr import select
from services.registry_export.kpr_xml import render
from services.registry_export.manifest import MANIFEST
from services.registry_export.published import render_table
from services.registry_export.state import PersonsView
from services.registry_export.worker import build_worker
from tests.registry_export.conftest import PARTITIONS
from tests.registry_export.support import comparable, envelopes, municipality, produce, replay
from tests.registry_export.test_welfare import alarm, covered
from tests.support.waiting import passes

WAIT_S = 90


def prescribed(entry: uuid.UUID) -> med.MedicationPrescribed:
    return med.MedicationPrescribed.model_validate({
        "entry_id": entry, "treatment_id": uuid.uuid4(), "prescription_id": uuid.uuid4(),
        "drug": {"name": "Paracet", "atc": "N02BE01"},
        "dose": {"amount": 1, "unit": "tablett", "route": "oral", "times_per_day": 2},
        "start_on": "2026-01-02", "by": {"kind": "prescriber", "id": "7123456"},
        "recorded_at": datetime.now(UTC).isoformat()})


async def dlq_records(bootstrap: str, topic: str, want: int) -> list:
    consumer = AIOKafkaConsumer(f"{topic}.dlq", bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    got: list = []
    try:
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while len(got) < want and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            got += [r for rs in batch.values() for r in rs]
        return got
    finally:
        await consumer.stop()


async def test_worker_folds_the_topics_and_dead_letters_poison(kafka_bootstrap, database_url,
                                                                schema, engine, sources,
                                                                unique, tmp_path):
    journal = municipality(12, 2025, seed=3)
    someone = journal[0].patient_id
    entry = uuid.uuid4()
    medication = envelopes(someone, [prescribed(entry)], prefix="medication")
    # welfare.events: a coverage (technology in use) folded, a reading that makes no part
    welfare = envelopes(someone, [covered("trygghetsalarm", date(2025, 3, 1))],
                        prefix="welfare-coverage") + alarm(someone)
    await produce(kafka_bootstrap, sources["journal.events"], journal[:20])
    await produce(kafka_bootstrap, sources["journal.events"], [b"{not an event"], key=b"k")
    await produce(kafka_bootstrap, sources["journal.events"], journal[20:])
    await produce(kafka_bootstrap, sources["medication.events"], medication)
    await produce(kafka_bootstrap, sources["welfare.events"], welfare)

    app_id = f"registry-{unique}"
    app = build_worker(Settings(KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
                                DATABASE_URL=database_url), MANIFEST.registry(),
                       schema=schema, topics=sources, app_id=app_id, partitions=PARTITIONS,
                       datadir=tmp_path, web_port=free_port(), broker_commit_interval=0.5)
    expected = comparable(replay(journal + medication + welfare))
    assert expected[str(someone)]["medicines"] == [str(entry)]
    assert [s["code"] for s in expected[str(someone)]["services"].values()
            if s["source"] == "welfare"] == ["6"]
    await asyncio.wait_for(app.start(), WAIT_S)
    try:
        async with PersonsView(engine, app_id) as view:
            async def agrees():
                assert comparable(await view.catch_up()) == expected
            await passes(agrees, WAIT_S)
        poison = await dlq_records(kafka_bootstrap, sources["journal.events"], 1)
    finally:
        await asyncio.wait_for(app.stop(), WAIT_S)
    assert len(poison) == 1 and poison[0].value == b"{not an event"
    assert b"not an event envelope" in dict(poison[0].headers)["ehr.error"]


async def test_a_rebuild_from_offset_zero_gives_the_same_tables_and_files(
        kafka_bootstrap, database_url, schema, engine, sources, unique, tmp_path):
    """A worker under a new app id (``ehr registry worker --app-id …``) reads every topic
    from offset 0 into its own parts (the same table, its own app id): the same statistics
    and the same KPR bytes."""
    journal = municipality(60, 2025, seed=13)
    await produce(kafka_bootstrap, sources["journal.events"], journal)
    ids = {str(e.patient_id): e.data["national_id"] for e in journal
           if e.type == "journal.PatientRegistered"}
    expected = comparable(replay(journal))
    outputs = []
    for run in ("first", "rebuilt"):
        app_id = f"registry-{unique}-{run}"
        app = build_worker(Settings(KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
                                    DATABASE_URL=database_url),
                           MANIFEST.registry(), schema=schema, topics=sources, app_id=app_id,
                           partitions=PARTITIONS, datadir=tmp_path / run,
                           web_port=free_port(), broker_commit_interval=0.5)
        await asyncio.wait_for(app.start(), WAIT_S)
        try:
            async with PersonsView(engine, app_id) as view:
                async def complete():   # every event folded, not just every person seen
                    assert comparable(await view.catch_up()) == expected
                    return view.persons
                people = await passes(complete, WAIT_S)
                now = datetime(2026, 2, 1, tzinfo=UTC)
                table, _ = render_table(people.values(), year=2025, kind="point", fmt="csv",
                                        min_cell=3, now=now)
                outputs.append((table, render(select(people.values(), ids, 2025))))
        finally:
            await asyncio.wait_for(app.stop(), WAIT_S)
    assert outputs[0] == outputs[1] and outputs[0][0].count("\n") > 10
