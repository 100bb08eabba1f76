"""The welfare benchmark's set-up (not measured): the consent service, the journal and the
welfare service as deployed (``bench.servers``: each its API and, in a second process, its relay
and projections), the alert rules' worker (``bench.welfare_servers``),
each in its own process on one set of fresh topics and its own schema; ``people`` patients
registered with a care relation for the home-care unit (``bench.journal.register``), each
with their share of ``devices`` home-monitoring tablets assigned through the consent service
and a consent for the technology recorded in the welfare service, as a municipality does it.
Ready once the welfare service's device list has every assignment."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from bench import journal as jn
from bench import loadgen as lg
from bench import welfare_servers as ws
from bench.infra import PARTITIONS, Deadline, Resources, unique
from bench.util import Child, gather_bounded, tracked
from libs.access.dev_issuer import DevIssuer
from libs.config import Settings
from libs.devstack.procs import free_port
from libs.events.db import make_engine

TECHNOLOGY = "digital hjemmeoppfølging"
TOPICS = ("consent.events", "audit.access", "journal.events", "welfare.events")
TTL = 6 * 3600


@dataclass
class Welfare:
    """What the measurements need: ports, the people and their devices (client id -> patient
    id), the device and nurse tokens, the worker process."""

    work: Path
    url: str = ""      # the database's
    schema: str = ""   # the welfare service's
    ports: dict[str, int] = field(default_factory=dict)
    topics: dict[str, str] = field(default_factory=dict)
    devices: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    nurse: str = ""
    servers: dict[str, Child | lg.Server] = field(default_factory=dict)

    def log(self, name: str) -> Path:
        return self.work / f"{name}.log"

    def roles(self) -> dict[int, str]:
        """{pid: CpuMeter role} of every process of the stack, each named with its pid."""
        return {pid: f"{role} ({pid})" for name, s in self.servers.items()
                for pid, role in s.roles(name).items()}

    @property
    def worker_pid(self) -> int:
        return self.servers["worker"].pid


async def _assign(c: Welfare, leader: str, people: list[str], devices: int, counter) -> None:
    nurse = {"Authorization": f"Bearer {c.nurse}"}
    async with lg.session_for(c.ports["consent"], limit=16) as consent, \
            lg.session_for(c.ports["welfare"], limit=16) as welfare:
        async def cover(patient: str) -> None:
            deadline = Deadline(300, "the welfare service's access facts")
            while True:   # 403 until its own access facts have the care relation
                async with welfare.post(f"/patients/{patient}/coverage", headers=nurse, json={
                        "technology": TECHNOLOGY, "basis": "consent",
                        "decision_ref": "samtykke journalført", "valid_from":
                        "2020-01-01T00:00:00+01:00"}) as r:
                    if r.status == 201:
                        return
                    assert r.status == 403, await r.text()
                deadline.check()
                await asyncio.sleep(0.3)

        async def assign(k: int) -> None:
            client, patient = f"tablet-{k:05d}", people[k % len(people)]
            async with consent.post(f"/patients/{patient}/devices", headers=nurse,
                                    json={"client_id": client, "technology": TECHNOLOGY}) as r:
                assert r.status == 201, await r.text()
            c.devices[client] = patient
            counter.n += 1

        await gather_bounded([cover(p) for p in people], 16, 600)
        await gather_bounded([assign(k) for k in range(devices)], 16, 1200)


async def until_rows(url: str, schema: str, table: str, n: int, what: str,
                     every_s: float = 0.5) -> float:
    """Wait until ``table`` of the welfare service's schema has ``n`` rows; the seconds it
    took."""
    engine = make_engine(url, schema, pool_size=1)
    deadline, t0 = Deadline(600, what), time.perf_counter()
    try:
        while True:
            async with engine.connect() as conn:
                have = (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar()
            if have >= n:
                return time.perf_counter() - t0
            deadline.check()
            await asyncio.sleep(every_s)
    finally:
        await engine.dispose()


# an alarm's way, from the welfare service's store: its reading recorded by the API and
# published by the relay, the worker's AlertRaised recorded and published
_STAGES = """
    WITH alarm AS (
        SELECT e.envelope->'data'->'reading'->>'reading_id' AS id, recorded_at, published_at
          FROM events e JOIN outbox USING (position)
         WHERE e.type = 'welfare.DeviceEventReceived'),
    alert AS (
        SELECT e.envelope->'data'->>'reading_id' AS id, recorded_at, published_at
          FROM events e JOIN outbox USING (position) WHERE e.type = 'welfare.AlertRaised')
    SELECT id, alarm.recorded_at, alarm.published_at, alert.recorded_at, alert.published_at
      FROM alarm JOIN alert USING (id) WHERE id = ANY(:ids)"""


async def alarm_stages(c: Welfare, reading_ids: list[str]) -> dict[str, list[float]]:
    """{reading id: [recorded, published, alert recorded, alert published]} (epoch seconds) of
    each alarm found with all four."""
    engine = make_engine(c.url, c.schema, pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text(_STAGES), {"ids": reading_ids})).all()
    finally:
        await engine.dispose()
    return {r[0]: [t.timestamp() for t in r[1:]] for r in rows if None not in r[1:]}


@contextlib.asynccontextmanager
async def welfare_stack(url: str, bootstrap: str, people: int, devices: int,
                        progress=None) -> AsyncIterator[Welfare]:
    uid, res = unique(), Resources(url, bootstrap)
    c = Welfare(Path(tempfile.mkdtemp(prefix="bench-welfare-")), url=url)
    key = c.work / "key.pem"
    issuer = DevIssuer.from_settings(Settings(environment="test", dev_key_path=key))
    c.nurse, case_worker, leader = jn.staff_tokens(key)
    try:
        schemas = {s: await res.schema(f"bench_welfare_{uid}_{s}")
                   for s in ("consent", "journal", "welfare")}
        c.schema = schemas["welfare"]
        c.topics = {t: await res.topic(f"bench.{t}.{uid}") for t in TOPICS}
        c.topics["raw"] = await res.topic(f"bench.welfare-raw.{uid}")
        c.ports = {s: free_port() for s in (*schemas, "worker")}
        base = {"url": url, "bootstrap": bootstrap, "topics": c.topics, "key": str(key)}
        for s in ("consent", "journal"):
            c.servers[s] = await lg.start_server(s, base | {"schema": schemas[s],
                                                            "port": c.ports[s]}, c.log(s))
        c.servers["welfare"] = await lg.start_server("welfare", base | {
            "schema": schemas["welfare"], "port": c.ports["welfare"]}, c.log("welfare"))
        c.servers["worker"] = await ws.start("worker", base | {
            "schema": schemas["welfare"], "port": c.ports["worker"], "unit": jn.HOME_CARE,
            "app_id": f"bench-welfare-{uid}", "datadir": str(c.work / "faust"),
            "partitions": PARTITIONS, "ready": str(c.work / "worker.ready")}, c.log("worker"))
        jeng = make_engine(url, schemas["journal"], pool_size=2)
        try:
            async with lg.session_for(c.ports["journal"], limit=16) as js, \
                    lg.session_for(c.ports["consent"], leader, 16) as cons:
                async with tracked(progress, "welfare set-up: people", people) as n:
                    patients = await jn.register(js, cons, case_worker, jeng, n, count=people)
        finally:
            await jeng.dispose()
        async with tracked(progress, "welfare set-up: devices", devices) as n:
            await _assign(c, leader, patients, devices, n)
        await until_rows(url, schemas["welfare"], "welfare_devices", devices,
                         "every device known to the welfare service")
        c.tokens = {d: issuer.mint_device(d, ttl=TTL) for d in c.devices}
        yield c
        shutil.rmtree(c.work, ignore_errors=True)   # kept, with the servers' logs, on failure
    finally:
        for s in reversed(list(c.servers.values())):
            await s.stop()
        await res.cleanup()

