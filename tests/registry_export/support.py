"""Helpers for the registry export's tests: journal events as envelopes on the test's topics,
the faust worker in-process or as a process (for SIGKILL), and a from-scratch fold."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from cli.manifests import registry
from libs.audit.log import AccessLogged
from libs.config import REPO_ROOT
from libs.events.envelope import SYSTEM, Envelope, new_event_id
from libs.events.registry import EventPayload
from libs.web.service import Options
from services.registry_export.app import create_app
from services.registry_export.domain.person import Person, advance, merge
from services.registry_export.domain.synthetic import person_events
from services.registry_export.settings import RegistryExportSettings
from tests.support.waiting import passes



def envelopes(patient_id: uuid.UUID, payloads: Iterable[EventPayload], *, prefix: str = "journal",
              start: int = 1) -> list[Envelope]:
    now = datetime.now(UTC)
    return [Envelope(event_id=new_event_id(), type=p.event_type, schema_version=p.schema_version,
                     stream_id=f"{prefix}-{patient_id}", stream_version=start + i,
                     patient_id=patient_id, occurred_at=now, recorded_at=now, actor=SYSTEM,
                     data=p.model_dump(mode="json"))
            for i, p in enumerate(payloads)]


def accesses(patient_id: uuid.UUID, n: int) -> list[Envelope]:
    """``n`` entries of the patient's access log (their chain hashes are not checked here)."""
    now = datetime.now(UTC)
    return envelopes(patient_id, [AccessLogged(
        service="journal", outcome="permit", reason="care_relation", actor_kind="practitioner",
        actor_id="9144889", action="read", accessed_at=now, chain=f"journal:{patient_id}",
        seq=i + 1, prev_hash="0" * 64, hash=f"{i + 1:064x}") for i in range(n)],
        prefix="audit-journal")


def municipality(n: int, year: int, seed: int = 1, kommune: str = "0301",
                 others: tuple[str, ...] = ("3201", "1103")) -> list[Envelope]:
    rng = random.Random(seed)
    out: list[Envelope] = []
    for slot in range(n):
        pid = uuid.UUID(int=rng.getrandbits(128))
        out += envelopes(pid, person_events(rng, slot=slot, year=year, municipality=kommune,
                                            others=others))
    return out


async def produce(bootstrap: str, topic: str, envs: Iterable[Envelope | bytes],
                  key: bytes | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True)
    await producer.start()
    try:
        for e in envs:
            if isinstance(e, Envelope):
                await producer.send(topic, e.wire(), key=e.key())
            else:
                await producer.send(topic, e, key=key)
        await producer.flush()
    finally:
        await producer.stop()


def replay(envs: Iterable[Envelope]) -> dict[str, Person]:
    """The people a from-scratch fold gives (what the worker must agree with): each stream's
    part folded in its order, a person's parts merged."""
    reg = registry()
    parts: dict[str, dict[str, Person]] = {}
    for env in envs:
        env, payload = reg.load(env)
        changed = advance(parts.get(str(env.patient_id), {}).get(env.stream_id), env, payload)
        if changed is not None:
            parts.setdefault(str(env.patient_id), {})[env.stream_id] = changed
    return {pid: merge(p.values()) for pid, p in parts.items()}


def comparable(people: dict[str, Person]) -> dict[str, dict]:
    return {k: p.model_dump(mode="json") for k, p in people.items()}


def spawn_worker(bootstrap: str, database_url: str, schema: str, app_id: str,
                 topics: dict[str, str], datadir: str, partitions: int,
                 web_port: int) -> subprocess.Popen:
    """The worker's log goes to ``<datadir>.log`` (a pipe nobody reads would fill up and stop
    the worker)."""
    log = open(f"{datadir}.log", "ab")  # noqa: SIM115  (the child process writes it)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.registry_export.worker_proc", bootstrap, database_url,
         schema, app_id,
         json.dumps(topics), datadir, str(partitions), str(web_port)],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=log)


async def coordinator_ready(bootstrap: str, group: str, timeout_s: float = 60) -> None:
    """Wait until the broker can coordinate ``group``. On a broker that has never had a consumer
    group, ``__consumer_offsets`` is still being created, and a faust worker that starts then
    was seen to stall after GroupCoordinatorNotAvailable (noted in the README, "Analysts")."""
    from aiokafka.admin import AIOKafkaAdminClient   # noqa: PLC0415
    from aiokafka.errors import GroupCoordinatorNotAvailableError   # noqa: PLC0415

    deadline = asyncio.get_running_loop().time() + timeout_s
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        while True:
            try:
                await admin.describe_consumer_groups([group])
                return
            except GroupCoordinatorNotAvailableError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await admin.close()


async def api_topics(sources: dict[str, str], make_topics, unique: str) -> dict[str, str]:
    """The topics the registry API with its worker inside uses in one test."""
    return {**sources, "registry.events": await make_topics("registry.events", 1)}


def registry_api(database_url: str, kafka_bootstrap: str, topics: dict[str, str], unique: str,
                 tmp_path, now: datetime, **chosen):
    """The registry API with its faust worker inside (its lifespan is the caller's), on the
    test's topics, its clock at ``now``; ``chosen``: settings of the test. (app, settings)"""
    from tests.registry_export.conftest import PARTITIONS   # noqa: PLC0415  (it imports us)

    settings = RegistryExportSettings(
        database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap, environment="test",
        dev_key_path=tmp_path / "key.pem", registry_out_dir=tmp_path / "out",
        registry_app_id=f"registry-{unique}", local_dir=tmp_path,
        registry_partitions=PARTITIONS, **chosen)
    return create_app(settings, Options(schema=f"t_{unique}", topic_names=topics,
                                        telemetry=False, clock=lambda: now)), settings


async def until_folded(app, people: dict[str, Person], timeout_s: float = 90) -> None:
    """Wait until the API's view holds the whole fold of ``people`` (every stream's part)."""
    async def folded() -> None:
        got = await app.state.persons.catch_up()
        assert {k: p.seen for k, p in got.items()} == {k: p.seen for k, p in people.items()}
    await passes(folded, timeout_s)
