"""Journal (issue 4): signed-note writes and patient-overview reads over HTTP, each next to a raw
FastAPI + asyncpg app doing the same work without the platform, in one run.

The journal service runs as deployed: its API under uvicorn **in its own process** (``python -m
bench.servers serve ...``, access logger and telemetry in it) and its relay and projections in a
second process (``background``); the baseline app (``serve raw``) is one process. The load generator
(aiohttp, as ``bench/access.py``) runs here.

Set-up (not measured): ``PATIENTS`` patients registered in the journal by a case worker, each
with a care relation for the home-care unit declared on the consent service (started for the
set-up only, then stopped: deployed, it runs elsewhere), then a realistic record for each
(a CAVE entry, ``NOTES`` signed notes, ``VITALS`` vital signs, ``TASKS`` open tasks) written
through the journal's API and projected into ``journal_records``.

Measured on the same patients, both servers up (the one not measured idles):

* overview reads ``GET /patients/{id}``: closed loop on ``CLIENTS`` connections (reads/s,
  p50/p99), then open loop at ``LOW_RATE`` (information) and at ``READ_RATE`` (p50/p99, the
  target);
* signed notes ``POST /patients/{id}/notes?sign=true`` (one note drafted and signed in one
  append): closed loop on ``CLIENTS`` connections, each client on its own patients (notes/s,
  p50/p99, the throughput target), then open loop at ``LOW_RATE`` and at ``WRITE_RATE``
  (p50/p99, the target).

The closed-loop windows, whose ratio to the baseline is the target, alternate: the service's,
the baseline's twice, the service's again (``loadgen.alternated``), each side's two joined; the
open-loop windows follow, the service's first. The service's second write window writes to
records its first grew (about 25 notes a patient more; the baseline's rows do not grow), so
its notes/s is lower than its first's by that too: the notes give each pair's ratio.

Between windows the journal's projection catches up with the writes and the server goes idle.

Open loop: request *i* is due at *t0 + i/rate* and sent then, whatever is in flight; its latency
counts from when it was due (a slow client or server cannot hide queueing). Each window has a
warm-up before it that is not counted.

Baseline: FastAPI + an asyncpg pool (10..20 connections, as the service's engine), the same
uvicorn (uvloop, httptools): a write validates the same body with pydantic and INSERTs one
note row (jsonb); a read SELECTs one jsonb row by primary key, the same documents as the
journal's read model (copied from ``journal_records`` after the set-up), and returns it as is.
No token, no access decision, no access log, no event store, no projection.

``BENCH_PROFILE_DIR`` (optional): py-spy samples the server's processes during each closed-loop
window at 100 Hz and writes collapsed stacks there (``loadgen.profiled``).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from time import perf_counter

import aiohttp

from bench.infra import Resources, loadavg, pg_connect, unique
from bench.loadgen import (CLIENTS, ERROR, RATE_S, WARMUP_S, WINDOW_S, JRow, Request, Server,
                           Side, Window, alternated, pair_ratios, session_for, start_server,
                           window)
from bench.report import Row
from bench.util import gather_bounded, make_progress, tracked
from libs.access.dev_issuer import DevIssuer
from libs.kernel.identifiers import synthetic_number
from libs.access.model import Role
from libs.config import Settings
from libs.devstack.procs import free_port
from libs.events.consistency import ConsistencyToken, wait_until_applied
from libs.events.db import make_engine
from services.journal.projections.records import RECORD_DOC

PATIENTS, SETUP_CLIENTS = 200, 16
NOTES, VITALS, TASKS = 20, 20, 3
WRITE_RATE, READ_RATE = 200.0, 200.0          # offered loads of the open-loop windows (targets)
LOW_RATE = 50.0                               # and a lower one, for information (0 = none)
WRITE_TARGET, WRITE_P99_MS, READ_P99_MS = 500.0, 50.0, 20.0
HOME_CARE, MUNICIPALITY, ALLOCATION = "974600978", "123456785", "889640782"
NURSE_HPR = "9144889"
NOTE = {"kind": "home_care_visit", "text": (
    "Hjemmebesøk kl. 08.15. Pasienten var våken og orientert, satt i stolen ved vinduet. "
    "Hjulpet med morgenstell og påkledning; huden hel og uten trykkmerker. Tok morgenmedisin "
    "fra multidosepose under tilsyn. Spiste to brødskiver og drakk en kopp kaffe og et glass "
    "vann. Klager over litt stivhet i venstre kne, ingen tegn til hevelse eller rødme. "
    "Rullator innen rekkevidde, trygghetsalarm på. Avtalt besøk igjen kl. 14.00.")}
VITAL_VALUES = {"8867-4": 72, "8480-6": 132, "8462-4": 81, "8310-5": 36.9, "59408-5": 96,
                "9279-1": 16, "29463-7": 68.5}
CAVE = {"category": "drug_reaction", "substance": "Penicillin", "reaction": "Urtikaria",
        "severity": "moderate"}
SETTINGS = (f"{PATIENTS} patients, each with a CAVE, {NOTES} signed notes, {VITALS} vital "
            f"signs, {TASKS} open tasks; {CLIENTS} clients closed-loop for {WINDOW_S:.0f} s, "
            f"open loop at {WRITE_RATE:.0f} notes/s and {READ_RATE:.0f} reads/s (and "
            f"{LOW_RATE:.0f}/s for information) for {RATE_S:.0f} s (+{WARMUP_S:.0f} s warm-up "
            "each)")


class Target:
    """What one window sends: request *i* of slot *k* (a closed-loop client, or every
    CLIENTS-th request of an open loop). The consistency token of the latest write of each
    slot is kept, to wait for the projection before the next window."""

    def __init__(self, kind: str, patients: list[str]):
        self.kind, self.patients = kind, patients
        self.tokens: dict[int, str] = {}

    def slot(self, k: int) -> Request:
        if self.kind == "writes":  # a patient only this slot writes to: no write conflicts
            mine = self.patients[k % len(self.patients)::CLIENTS] or self.patients
            return lambda s, i: self._post(s, k, mine[i % len(mine)])
        first = k * len(self.patients) // CLIENTS
        return lambda s, i: self._get(s, self.patients[(first + i) % len(self.patients)])

    async def _post(self, session: aiohttp.ClientSession, k: int, patient: str) -> int:
        async with session.post(f"/patients/{patient}/notes?sign=true", json=NOTE) as r:
            await r.read()
            if token := r.headers.get("X-Consistency-Token"):
                self.tokens[k] = token
            return r.status

    @staticmethod
    async def _get(session: aiohttp.ClientSession, patient: str) -> int:
        async with session.get(f"/patients/{patient}") as r:
            await r.read()
            return r.status


# --- set-up: patients, care relations, records -----------------------------------------------

def staff_tokens(key: Path) -> tuple[str, str, str]:
    """The run's tokens, signed with the development key at ``key``: the home-care nurse, the
    allocation office's case worker (registers patients) and the unit leader (assigns care
    relations, AC3); they live as long as a run."""
    issuer = DevIssuer.from_settings(Settings(environment="test", dev_key_path=key))
    return (issuer.mint_practitioner(NURSE_HPR, MUNICIPALITY, HOME_CARE, (Role.nurse,),
                                     "Nina Sykepleier", ttl=6 * 3600),
            issuer.mint_practitioner("5550001", MUNICIPALITY, ALLOCATION, (Role.other,),
                                     "Kari Saksbehandler", ttl=6 * 3600),
            issuer.mint_practitioner("1234567", MUNICIPALITY, HOME_CARE, (Role.unit_leader,),
                                     "Leder", ttl=6 * 3600))


async def register(journal: aiohttp.ClientSession, consent: aiohttp.ClientSession,
                   case_worker: str, engine, counter, count: int = PATIENTS) -> list[str]:
    """Patients registered by the allocation office; the unit's leader assigns it a care
    relation on the consent service; returns once the journal's access facts have every
    relation."""
    tokens: list[str] = []

    async def one(n: int) -> str:
        body = {"national_id": synthetic_number(date(1931, 1, 3) + timedelta(days=97 * n)),
                "name": {"given": "Astrid", "family": f"Hansen {n}"}, "sex": "female",
                "address": {"lines": [f"Storgata {n + 1}"], "postal_code": "0155",
                            "city": "Oslo", "municipality": "0301"}}
        async with journal.post("/patients", json=body,
                                headers={"Authorization": f"Bearer {case_worker}"}) as r:
            assert r.status == 201, await r.text()
            patient = (await r.json())["patient_id"]
        async with consent.post(f"/patients/{patient}/care-relations", json={
                "purpose": "home care", "basis": "service_decision",
                "reason": "vedtak om hjemmesykepleie"}) as r:
            assert r.status == 201, await r.text()
            tokens.append(r.headers["X-Consistency-Token"])
        counter.n += 1
        return patient

    patients = await gather_bounded([one(n) for n in range(count)], SETUP_CLIENTS, 600)
    for t in tokens:  # the journal's access facts have every relation before anything else
        await wait_until_applied(engine, "access_facts", ConsistencyToken.decode(t), 120)
    return patients


async def seed(journal: aiohttp.ClientSession, patients: list[str], engine, counter) -> float:
    """Each patient's record: a CAVE, NOTES signed notes, VITALS vital signs and TASKS open
    tasks, interleaved as a home-care record grows; waits until the read model has them all.
    Returns the writes per second of the set-up (information)."""
    codes, now = list(VITAL_VALUES), datetime.now(UTC)
    writes = [("critical-info", CAVE)]
    for i in range(max(NOTES, VITALS, TASKS)):
        if i < VITALS:
            code = codes[i % len(codes)]
            writes.append(("observations", {"code": code, "value": VITAL_VALUES[code],
                                            "effective_at": (now - timedelta(hours=VITALS - i))
                                            .isoformat()}))
        if i < NOTES:
            writes.append(("notes?sign=true", NOTE))
        if i < TASKS:
            writes.append(("tasks", {"kind": "home_care_visit", "title": "Morgenbesøk",
                                     "description": "Morgenstell og medisiner",
                                     "unit": HOME_CARE, "due_at": (now + timedelta(days=i + 1))
                                     .isoformat()}))
    last: list[str] = []

    async def one(patient: str) -> None:
        for path, body in writes:
            async with journal.post(f"/patients/{patient}/{path}", json=body) as r:
                assert r.status == 201, (path, r.status, await r.text())
                token = r.headers["X-Consistency-Token"]
            counter.n += 1
        last.append(token)

    t0 = perf_counter()
    await gather_bounded([one(p) for p in patients], CLIENTS, 1800)
    rate = len(writes) * len(patients) / (perf_counter() - t0)
    for t in last:
        await wait_until_applied(engine, "journal_records", ConsistencyToken.decode(t), 120)
    return rate


async def copy_records(url: str, journal_schema: str, raw_schema: str) -> int:
    """The baseline's tables; its records are the journal's read-model documents."""
    conn = await pg_connect(url, raw_schema)
    try:
        await conn.execute("""
            CREATE TABLE notes (note_id uuid PRIMARY KEY, patient_id uuid NOT NULL,
                                doc jsonb NOT NULL);
            CREATE TABLE records (patient_id uuid PRIMARY KEY, doc jsonb NOT NULL)""")
        # the whole records, notes included (their rows are found on the search path)
        await conn.execute(f'SET search_path TO "{raw_schema}", "{journal_schema}"')
        await conn.execute(f'INSERT INTO records SELECT r.patient_id, {RECORD_DOC} '
                           f'FROM "{journal_schema}".journal_records r')
        await conn.execute("VACUUM ANALYZE records")
        return await conn.fetchval("SELECT avg(length(doc::text))::int FROM records")
    finally:
        await conn.close()


# --- the phases ------------------------------------------------------------------------------

async def measure(ours: Side, raw: Side, patients: list[str], progress
                  ) -> tuple[dict[str, Window], dict[str, Window]]:
    """Reads, then writes: the closed-loop windows alternated with the baseline's, then the
    open-loop windows, the service's first."""
    got: tuple[dict[str, Window], dict[str, Window]] = ({}, {})
    for what in ("reads", "writes"):
        targets = (Target(what, patients), Target(what, patients))   # each side its own
        got[0][f"{what} closed"], got[1][f"{what} closed"] = await alternated(
            lambda n: window("journal", ours, targets[0], what, None, progress, n),
            lambda n: window("journal", raw, targets[1], what, None, progress, n))
        for side, mine, target in zip((ours, raw), got, targets, strict=True):
            for rate in (LOW_RATE, READ_RATE if what == "reads" else WRITE_RATE):
                if rate:
                    mine[f"{what} open @ {rate:.0f}/s"] = await window(
                        "journal", side, target, what, rate, progress)
    return got


async def journal_phase(url: str, bootstrap: str, console, rows: list[Row],
                        notes: list[str]) -> None:
    res, uid, work = Resources(url, bootstrap), unique(), Path(tempfile.mkdtemp(prefix="bench-"))
    closers: list = []
    servers: list[Server] = []

    async def stop(server: Server) -> None:
        await server.stop()
        servers.remove(server)

    try:
        schemas = {s: await res.schema(f"bench_journal_{uid}_{s}")
                   for s in ("journal", "consent", "raw")}
        topics = {t: await res.topic(f"bench.{t}.{uid}") for t in ("consent.events",
                                                                    "audit.access",
                                                                    "journal.events",
                                                                    "welfare.events")}
        key = work / "key.pem"
        nurse, case_worker, leader = staff_tokens(key)
        engine = make_engine(url, schemas["journal"], pool_size=2)
        closers.append(engine.dispose)
        base = {"url": url, "bootstrap": bootstrap, "topics": topics, "key": str(key)}
        cfg = {m: base | {"schema": schemas[m], "port": free_port()}
               for m in ("journal", "consent", "raw")}
        console.log(f"[bold]journal[/]: starting the journal and consent services "
                    f"(load {loadavg()})")
        journal = await start_server("journal", cfg["journal"], work / "journal.log")
        servers.append(journal)
        consent = await start_server("consent", cfg["consent"], work / "consent.log")
        servers.append(consent)
        with make_progress(console) as progress:
            async with session_for(cfg["journal"]["port"], nurse, SETUP_CLIENTS * 2) as js, \
                    session_for(cfg["consent"]["port"], leader, SETUP_CLIENTS) as cs:
                async with tracked(progress, "journal set-up: patients + care relations",
                                   PATIENTS) as c:
                    patients = await register(js, cs, case_worker, engine, c)
            await stop(consent)  # deployed, it runs elsewhere; here it would share the cores
            n_writes = PATIENTS * (1 + NOTES + VITALS + TASKS)
            async with session_for(cfg["journal"]["port"], nurse) as js:
                async with tracked(progress, "journal set-up: records", n_writes) as c:
                    seed_rate = await seed(js, patients, engine, c)
            doc_len = await copy_records(url, schemas["journal"], schemas["raw"])
            notes.append(f"journal set-up: {PATIENTS} patients registered, care relations "
                         f"declared on the consent service (stopped afterwards); {n_writes:,} "
                         f"record writes on {CLIENTS} connections at {seed_rate:,.0f} writes/s; "
                         f"read-model documents {doc_len:,} characters on average")
            raw = await start_server("journal-raw", cfg["raw"], work / "raw.log")
            servers.append(raw)
            console.log(f"journal: measuring the journal service and the raw baseline, "
                        f"alternating (load {loadavg()})")
            system, baseline = await measure(
                Side(cfg["journal"]["port"], nurse, journal, "journal service", engine,
                     profile="journal-journal"),
                Side(cfg["raw"]["port"], None, raw, "raw FastAPI + asyncpg",
                     profile="journal-raw"), patients,
                progress)
        add_rows(system, baseline, rows, notes)
        shutil.rmtree(work, ignore_errors=True)
    except Exception as exc:  # noqa: BLE001 - report it, the other benchmarks' rows stand
        console.print_exception()
        notes.append(f"journal: failed: {type(exc).__name__}: {exc} (logs: {work})")
        rows.append(JRow(f"{PATIENTS} patients", f"journal FAILED ({type(exc).__name__})",
                         None, None, "notes/s", passed=False))
    finally:
        for s in list(servers):
            await s.stop()
        for close in closers:
            await asyncio.wait_for(close(), 30)
        await asyncio.wait_for(res.cleanup(), 300)


def add_rows(s: dict[str, Window], b: dict[str, Window], rows: list[Row],
             notes: list[str]) -> None:
    size = f"{PATIENTS} patients"
    sustained = lambda w: w.achieved >= 0.95 * w.offered  # noqa: E731
    for what, unit, rate, p99_target in (("writes", "notes/s", WRITE_RATE, WRITE_P99_MS),
                                         ("reads", "reads/s", READ_RATE, READ_P99_MS)):
        c, bc = s[f"{what} closed"], b[f"{what} closed"]
        o = s[f"{what} open @ {rate:.0f}/s"]
        name = "note write" if what == "writes" else "overview read"
        if what == "writes":
            rows.append(JRow(size, f"signed notes/s ({CLIENTS} clients)", c.rate, bc.rate,
                             unit, f"≥ {WRITE_TARGET:.0f} notes/s",
                             c.rate >= WRITE_TARGET and c.ok))
        else:
            rows.append(JRow(size, f"overview reads/s ({CLIENTS} clients)", c.rate, bc.rate,
                             unit))
        rows += [JRow(size, f"{name} p50 ({CLIENTS} clients)", c.p(50), bc.p(50), "ms"),
                 JRow(size, f"{name} p99 ({CLIENTS} clients)", c.p(99), bc.p(99), "ms"),
                 JRow(size, f"service CPU per {name}", c.cpu_ms, bc.cpu_ms, "ms")]
        for r in (LOW_RATE, rate) if LOW_RATE else (rate,):
            lo, blo = s[f"{what} open @ {r:.0f}/s"], b[f"{what} open @ {r:.0f}/s"]
            main = r == rate
            rows += [
                JRow(size, f"{what} sustained (offered {r:.0f}/s)", lo.achieved, blo.achieved,
                     unit),
                JRow(size, f"{name} p50 @ {r:.0f}/s", lo.p(50), blo.p(50), "ms"),
                JRow(size, f"{name} p99 @ {r:.0f}/s", lo.p(99), blo.p(99), "ms",
                     *((f"≤ {p99_target:.0f} ms at {r:.0f} {unit}",
                        lo.p(99) <= p99_target and sustained(lo) and lo.ok) if main else ()))]
        if not sustained(o):
            notes.append(f"journal {what}: the service answered only {o.achieved:,.0f} of the "
                         f"{o.offered:,.0f} {unit} offered, so the p99 target at {rate:.0f} "
                         f"{unit} is missed whatever the latency (latency counts from each "
                         "request's due time, so it includes the queue)")
    for who, got in (("journal", s), ("baseline", b)):
        for k, w in got.items():
            notes.append(f"{who} {k}: {w.text('notes/s' if 'writes' in k else 'reads/s')}")
    notes.append("journal: closed-loop windows in the order service, baseline, baseline, "
                 "service; each pair of neighbours' ratio: reads "
                 f"{pair_ratios(s['reads closed'], b['reads closed'])}, writes "
                 f"{pair_ratios(s['writes closed'], b['writes closed'])}")
    notes.append(f"journal: the service as deployed, its API in its own process (access logger, "
                 f"telemetry SDK without exporter) and its relay and projections (`access_facts`, "
                 f"`journal_records`, ...) in a second one; each "
                 f"request as the home-care nurse: token, access decision, durable AccessLogged "
                 f"entry; a note is drafted and signed in one append of two events. Closed loop: "
                 f"{CLIENTS} clients, latency of requests completed in the {WINDOW_S:.0f} s "
                 f"window; open loop: latency from each request's due time, {RATE_S:.0f} s. "
                 f"Between windows the projection catches up and the server goes idle; the "
                 f"server not measured idles. "
                 f"Baseline: FastAPI + asyncpg in its own process, pydantic body, one INSERT "
                 f"(note jsonb) / one SELECT of the same record documents by primary key; no "
                 f"auth, no log. Server CPU per request = its CPU over the closed-loop window ÷ "
                 f"requests sent, the relay-and-projections process's CPU included")
    bad = {k: {c: n for c, n in w.status.items() if c not in (200, 201)}
           for k, w in s.items() if not w.ok}
    if bad:
        notes.append(f"journal: **some requests did not answer 200/201**: {bad} (409: the "
                     f"write still conflicted after the service's retries; {ERROR}: no answer)")
