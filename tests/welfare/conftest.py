"""The welfare service with the consent service and the journal on the real stack: one schema
each, one set of fresh topics per test, relays and projections in-process. A person is
registered in the journal, granted home care (a care relation for the home-care unit), and a
device is assigned to them through the consent service, as in production."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import TopicPartition

from libs.config import REPO_ROOT, Settings
from libs.devstack.procs import free_port
from libs.events.migrations import run_migrations
from libs.web.service import Options
from services.welfare.app import create_app as welfare_app
from services.welfare.domain import codes
from tests.journal.conftest import HOME_CARE, Clinic, running_clinic
from tests.support.waiting import passes

ALARM = "trygghetsalarm"
MONITOR = "digital hjemmeoppfølging"


def now() -> datetime:
    return datetime.now(UTC)


def observation(patient_id: str, event_id: str, code: str = codes.SPO2, value: float = 96,
                unit: str = "%", at: datetime | None = None, **more: Any) -> dict:
    return {"resourceType": "Observation", "status": "final",
            "identifier": [{"value": event_id}],
            "code": {"coding": [{"system": codes.LOINC, "code": code}]},
            "subject": {"reference": f"Patient/{patient_id}"},
            "effectiveDateTime": (at or now() - timedelta(seconds=5)).isoformat(),
            "valueQuantity": {"value": value, "unit": unit, "system": codes.UCUM,
                              "code": unit}} | more


def flag(patient_id: str, event_id: str, code: str = "4.1", severity: int | None = 3,
         system: str = codes.ALERT_SYSTEM, at: datetime | None = None) -> dict:
    body = {"resourceType": "Flag", "status": "active", "identifier": [{"value": event_id}],
            "code": {"coding": [{"system": system, "code": code}]},
            "subject": {"reference": f"Patient/{patient_id}"},
            "period": {"start": (at or now() - timedelta(seconds=5)).isoformat()}}
    if severity is not None:
        body["extension"] = [{"url": codes.SEVERITY_EXTENSION, "valueInteger": severity}]
    return body


def batch(*resources: dict) -> dict:
    return {"resourceType": "Bundle", "type": "batch",
            "entry": [{"resource": r, "request": {"method": "POST",
                                                  "url": r["resourceType"]}}
                      for r in resources]}


class Clock:
    """Real time until a test sets it; then the set time, for the welfare API and, through
    ``path``, for a worker in another process (``spawn_worker(..., clock=home.clock.path)``)."""

    def __init__(self, path: Path):
        self.path, self.at = path, None

    def __call__(self) -> datetime:
        return self.at or now()

    def set(self, at: datetime) -> None:
        self.at = at
        self.path.write_text(at.isoformat())


class Home:
    """A person at home with welfare technology, and short-hands for the welfare API."""

    def __init__(self, clinic: Clinic, welfare: httpx.AsyncClient, app, schema: str,
                 topics: dict[str, str]):
        self.c, self.api, self.app = clinic, welfare, app
        self.schema, self.topics = schema, topics
        self.engine = app.state.engine
        self.clock: Clock | None = getattr(app.state, "test_clock", None)   # the home fixture's

    def device(self, client_id: str) -> dict[str, str]:
        return self.c.bearer(self.c.issuer.mint_device(client_id))

    def leader(self) -> dict[str, str]:
        return self.c.leader(HOME_CARE)

    async def person(self) -> str:
        """A registered person with home care granted, whom the home-care nurse may work with in
        the journal, the consent service and the welfare service."""
        patient_id, _ = await self.c.register()
        await self.c.home_care_granted(patient_id)

        # the nurse's care relation in the journal's, the consent service's (where devices are
        # assigned) and the welfare service's facts: each folds it on its own
        await self.c.until_allowed(self.c.nurse(), patient_id, timeout=30)

        async def readable() -> None:
            r = await self.api.get(f"/patients/{patient_id}/readings", headers=self.c.nurse())
            assert r.status_code == 200, r.text
        await passes(readable, timeout_s=30)
        return patient_id

    async def assign(self, patient_id: str, client_id: str, technology: str = ALARM) -> None:
        """Assign the device through the consent service and wait until the welfare service
        lets it report (its access facts and its device list both have it)."""
        r = await self.c.consent.post(f"/patients/{patient_id}/devices", headers=self.c.nurse(),
                                      json={"client_id": client_id, "technology": technology})
        assert r.status_code == 201, r.text

        async def known() -> None:   # past the device check, refused as input
            r = await self.api.post("/ingest/Flag", headers=self.device(client_id),
                                    json=flag(patient_id, "probe", code="9.99"))
            assert r.status_code == 422, r.text
        await passes(known, timeout_s=30)

    async def cover(self, patient_id: str, technology: str = ALARM,
                    basis: str = "consent") -> dict:
        r = await self.api.post(f"/patients/{patient_id}/coverage", headers=self.c.nurse(),
                                json={"technology": technology, "basis": basis,
                                      "decision_ref": "samtykke journalført 2026-01-05",
                                      "valid_from": "2026-01-01T00:00:00+01:00"})
        assert r.status_code == 201, r.text
        return r.json()

    async def ready(self, client_id: str, technology: str) -> str:
        """A person with the device assigned and a consent for its technology."""
        patient = await self.person()
        await self.assign(patient, client_id, technology)
        await self.cover(patient, technology)
        return patient

    async def tasks(self, patient_id: str) -> list[dict]:
        r = await self.api.get(f"/patients/{patient_id}/welfare-tasks", headers=self.c.nurse())
        assert r.status_code == 200, r.text
        return r.json()["tasks"]

    async def readings(self, patient_id: str, **params) -> list[dict]:
        r = await self.api.get(f"/patients/{patient_id}/readings", headers=self.c.nurse(),
                               params=params)
        assert r.status_code == 200, r.text
        return r.json()["readings"]


def spawn_worker(home: Home, database_url: str, kafka_bootstrap: str, app_id: str,
                 datadir: Path, *sla_s: str, clock: Path | None = None) -> subprocess.Popen:
    """The alert rules' worker in its own process; its log goes to ``<datadir>.log``."""
    log = open(f"{datadir}.log", "ab")  # noqa: SIM115  (the child process writes it)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.welfare.worker_proc", database_url, home.schema,
         kafka_bootstrap, json.dumps(home.topics), app_id, str(datadir), str(free_port()),
         *sla_s, *([f"clock={clock}"] if clock else [])],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=log)


def stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)


def worker_log(datadir: Path, tail: int = 3000) -> str:
    log = Path(f"{datadir}.log")
    return log.read_text(errors="replace")[-tail:] if log.exists() else "(no log)"


async def group_offsets(bootstrap: str, group: str,
                        topic: str) -> dict[TopicPartition, tuple[int, int | None]]:
    """Where consumer group ``group`` stands on ``topic``: per partition, the topic's end and
    the group's committed offset (None: nothing committed there)."""
    from aiokafka import AIOKafkaConsumer   # noqa: PLC0415
    from aiokafka.admin import AIOKafkaAdminClient   # noqa: PLC0415

    admin, consumer = (AIOKafkaAdminClient(bootstrap_servers=bootstrap),
                       AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None))
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = await consumer.end_offsets(parts or [tp for tp in committed if tp.topic == topic])
    finally:
        await consumer.stop()
        await admin.close()
    return {tp: (end, committed[tp].offset if tp in committed else None)
            for tp, end in sorted(ends.items(), key=lambda x: x[0].partition)}


async def stuck_report(home: Home, worker: subprocess.Popen, bootstrap: str, group: str,
                       datadir: Path) -> str:
    """Where a worker that stopped short stands: the outbox rows not yet on Kafka, the group's
    committed offsets against the topic's ends, and every asyncio task's stack in the worker
    (``worker_proc`` logs them on SIGUSR1)."""
    from sqlalchemy import text   # noqa: PLC0415

    lines = []
    async with home.engine.connect() as conn:
        unpublished = (await conn.execute(text(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL"))).scalar_one()
    lines.append(f"welfare outbox rows not yet published: {unpublished}")
    for tp, (end, got) in (await group_offsets(bootstrap, group,
                                               home.topics["welfare.events"])).items():
        lines.append(f"{tp.topic}[{tp.partition}] end {end} committed {got}")
    if worker.poll() is None:
        os.kill(worker.pid, signal.SIGUSR1)
        await asyncio.sleep(1.0)
    else:
        lines.append(f"worker exited with {worker.returncode}")
    return "\n".join(lines) + "\n--- worker log ---\n" + worker_log(datadir, 20_000)


@pytest.fixture
async def home(database_url, kafka_bootstrap, unique, make_topics,
               tmp_path) -> AsyncIterator[Home]:
    async with running_clinic(database_url, kafka_bootstrap, unique, make_topics,
                              tmp_path) as clinic:
        # the clinic made them all, welfare.events too (the journal reads it)
        topics = {t: f"{t}.{unique}" for t in ("consent.events", "audit.access",
                                               "journal.events", "welfare.events")}
        settings = Settings(database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap,
                            environment="test", dev_key_path=tmp_path / "key.pem",
                            relay_poll_interval_s=0.2, consistency_wait_s=15)
        schema = f"t_{unique}_welfare"
        await run_migrations(database_url, schema)
        clock = Clock(tmp_path / "clock")
        app = welfare_app(settings, Options(schema=schema, topic_names=topics,
                                            telemetry=False, clock=clock))
        app.state.test_clock = clock
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = await stack.enter_async_context(httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://welfare"))
            yield Home(clinic, client, app, schema, topics)
