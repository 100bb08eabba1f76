"""The citizen benchmark's set-up (not measured): the consent service, the journal and the
medication service (``bench.servers``) and the citizen service (``bench.citizen_servers``: its
API in ``workers`` processes, its relay, projections and notifier in one more), each
in its own process on one set of fresh topics and its own schema; ``patients`` patients
registered by a case worker with a care relation for the GP's office, each record seeded as the
journal benchmark does (a CAVE, notes, vital signs, tasks: ``bench.journal.seed``) and 3 to 5
entries on each medication list ordered by the GP (``bench.medication_setup.seed``); then, once
the citizen service's read models hold all of it, a signed-in portal session for each patient
(a server-side session in the citizen service's own store, holding a citizen token from the
development issuer, as the OIDC callback makes one)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import text

from bench import citizen_servers as cs
from bench import journal as jn
from bench import loadgen as lg
from bench import medication_setup as ms
from bench.infra import Deadline, Resources, unique
from bench.util import Child, tracked
from libs.access.dev_issuer import DevIssuer
from libs.access.model import Role
from libs.config import Settings
from libs.devstack.procs import free_port
from libs.events.db import make_engine
from libs.kernel.identifiers import synthetic_number
from services.citizen.store import Sessions

GP_OFFICE, GP_HPR = "889640790", "7654321"
TTL = 6 * 3600
TOPICS = ("consent.events", "audit.access", "journal.events", "medication.events",
          "welfare.events", "citizen.events")  # every topic a projection of theirs reads


@dataclass
class Citizens:
    """What the measurements need: the servers' ports, the patients with their portal session
    cookies, the GP's token, the engines on the citizen service's schema."""

    url: str
    bootstrap: str
    topics: dict[str, str]
    schemas: dict[str, str]
    ports: dict[str, int]
    gp: str
    key: Path
    work: Path
    patients: list[str] = field(default_factory=list)
    cookies: list[str] = field(default_factory=list)
    servers: dict[str, Child | lg.Server] = field(default_factory=dict)
    engine: object = None
    res: Resources | None = None

    def log(self, name: str) -> Path:
        return self.work / f"{name}.log"


def national_id(n: int) -> str:  # as bench.journal.register numbers its patients
    return synthetic_number(date(1931, 1, 3) + timedelta(days=97 * n))


async def _count(engine, sql: str) -> dict[str, int]:
    async with engine.connect() as conn:
        return {str(p): n for p, n in await conn.execute(text(sql))}


async def _projected(c: Citizens, orders: dict[str, int]) -> None:
    """Every note and every medication-list entry of the set-up in the citizen's read models."""
    deadline = Deadline(300, "the citizen service's read models")
    while True:
        notes = await _count(c.engine, "SELECT patient_id, count(*) FROM citizen_items "
                                       "WHERE kind = 'note' GROUP BY patient_id")
        meds = await _count(c.engine, "SELECT patient_id, count(*) FROM citizen_medicines "
                                      "GROUP BY patient_id")
        if all(notes.get(p, 0) >= jn.NOTES and meds.get(p, 0) >= orders[p]
               for p in c.patients):
            return
        deadline.check()
        await asyncio.sleep(0.2)


async def _sessions(c: Citizens) -> None:
    """A portal session per patient, once the citizen service knows who they are."""
    issuer = DevIssuer.from_settings(Settings(environment="test", dev_key_path=c.key))
    store = Sessions(c.engine, timedelta(hours=6))
    async with aiohttp.ClientSession(f"http://127.0.0.1:{c.ports['citizen']}") as http:
        for n, patient in enumerate(c.patients):
            token = issuer.mint_citizen(national_id(n), ttl=TTL)
            deadline = Deadline(120, f"the citizen service knows patient {n}")
            while True:
                async with http.get("/me", headers={"Authorization": f"Bearer {token}"}) as r:
                    if r.status == 200 and (await r.json()).get("patient_id") == patient:
                        break
                deadline.check()
                await asyncio.sleep(0.2)
            now = datetime.now(UTC)
            sid = await store.open(token, now + timedelta(seconds=TTL), now)
            c.cookies.append(f"__Host-ehr-session={sid}")


@contextlib.asynccontextmanager
async def citizens(url: str, bootstrap: str, patients: int, progress=None,
                   workers: int = 1) -> AsyncIterator[Citizens]:
    """``workers``: the citizen API's uvicorn processes (the relay, projections and notifier
    run in one more process, as the chart deploys them)."""
    uid, res = unique(), Resources(url, bootstrap)
    work = Path(tempfile.mkdtemp(prefix="bench-citizen-"))
    key = work / "key.pem"
    issuer = DevIssuer.from_settings(Settings(environment="test", dev_key_path=key))

    def pro(hpr: str, unit: str, roles, name: str) -> str:
        return issuer.mint_practitioner(hpr, jn.MUNICIPALITY, unit, roles, name, ttl=TTL)

    gp = pro(GP_HPR, GP_OFFICE, (Role.physician, Role.prescriber), "Lege Fastlege")
    case_worker = pro("5550001", jn.ALLOCATION, (Role.other,), "Kari Saksbehandler")
    leader = pro("1234567", GP_OFFICE, (Role.unit_leader,), "Leder")
    c = Citizens(url, bootstrap, {}, {}, {}, gp, key, work, res=res)
    engines = []
    try:
        c.schemas = {s: await res.schema(f"bench_citizen_{uid}_{s}")
                     for s in ("consent", "journal", "medication", "citizen")}
        c.topics = {t: await res.topic(f"bench.{t}.{uid}") for t in TOPICS}
        c.ports = {s: free_port() for s in (*c.schemas, "raw")}
        base = {"url": url, "bootstrap": bootstrap, "topics": c.topics, "key": str(key)}
        cfg = {s: base | {"schema": c.schemas.get(s, c.schemas["citizen"]), "port": p}
               for s, p in c.ports.items()}
        for s in ("consent", "journal", "medication"):
            c.servers[s] = await lg.start_server(s, cfg[s], c.log(s))
        cfg["citizen"] |= {"consent_url": f"http://127.0.0.1:{c.ports['consent']}",
                           "journal_url": f"http://127.0.0.1:{c.ports['journal']}"}
        cfg["citizen"]["workers"] = workers
        c.servers["citizen-worker"] = await cs.start_worker(cfg["citizen"],
                                                            c.log("citizen-worker"))
        c.servers["citizen"] = await cs.start("citizen", cfg["citizen"], c.log("citizen"))
        c.servers["raw"] = await cs.start("citizen-raw", cfg["raw"], c.log("raw"))
        jeng, meng = (make_engine(url, c.schemas[s], pool_size=2)
                      for s in ("journal", "medication"))
        c.engine = make_engine(url, c.schemas["citizen"], pool_size=4)
        engines += [jeng, meng, c.engine]
        async with lg.session_for(c.ports["journal"], gp, 16) as js, \
                lg.session_for(c.ports["consent"], leader, 16) as cons, \
                lg.session_for(c.ports["medication"], gp) as med:
            async with tracked(progress, "citizen set-up: patients", patients) as n:
                c.patients = await jn.register(js, cons, case_worker, jeng, n, count=patients)
            async with tracked(progress, "citizen set-up: records",
                               patients * (1 + jn.NOTES + jn.VITALS + jn.TASKS)) as n:
                await jn.seed(js, c.patients, jeng, n)
            orders = {p: 3 + k % 3 for k, p in enumerate(c.patients)}
            async with tracked(progress, "citizen set-up: medicines",
                               sum(orders.values())) as n:
                await ms.seed(med, c.patients, meng, n)
        await _projected(c, orders)
        await _sessions(c)
        yield c
        shutil.rmtree(work, ignore_errors=True)   # kept, with the servers' logs, on failure
    finally:
        for s in list(c.servers.values()):
            await s.stop()
        for e in engines:
            await e.dispose()
        await res.cleanup()
