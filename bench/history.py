"""A record's cost as its history grows (issue 12, finding 6): the journal's p50/p99 of a write,
the overview read, a FHIR search and the first timeline page, for one patient whose stream holds
100, 10k and 100k events, each next to the same figures for a **new patient** (a handful of
events) measured in the same run on the same server: the baseline is "what a record costs before
it has a history", and a ratio near 1 means the history costs nothing.

Set-up (not measured): the journal and consent services in their own processes
(``bench.servers``); ``len(SIZES) + 1`` patients registered by a case worker, each with a care
relation the unit leader assigns on the consent service (stopped afterwards); then each
history is written as real journal events (``clinical.record_observation``, the domain's own
decision: pulse, blood pressure, SpO2, weight, temperature in turn, one every 5 minutes back from
now) appended 1,000 per append through the journal's ``JournalStore`` (as the FHIR transaction
would, without 100 HTTP round trips), published by the service's relay and projected by its
projection; the set-up waits until the read model has them.

Measured, one client, one request at a time (a clinician's record is read and written by one
person at a time), ``REQUESTS`` after ``WARMUP`` not counted, the patients in turn request by
request, per patient:
- **write**: ``POST /patients/{id}/observations`` (a pulse);
- **overview**: ``GET /patients/{id}`` (latest vital signs, CAVE, tasks, newest notes);
- **FHIR search**: ``GET /fhir/Observation?patient={id}&_count=20`` (the newest page);
- **timeline**: ``GET /patients/{id}/timeline?limit=20``.
Then the service is restarted (a deploy, a crash): the **first write after restart** per patient
(one sample each: the cold load, from the newest snapshot) and the first overview read.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter
from uuid import UUID

import aiohttp

from bench.infra import Resources, loadavg, unique
from bench.journal import HOME_CARE, MUNICIPALITY, NURSE_HPR, register, staff_tokens
from bench.loadgen import JRow, Server, session_for, start_server
from bench.report import Row
from bench.util import make_progress, pct, tracked
from libs.devstack.procs import free_port
from libs.events.consistency import ConsistencyToken, wait_until_applied
from libs.events.db import make_engine
from libs.events.envelope import Actor
from libs.events.store import EventStore
from services.journal.domain import clinical
from services.journal.domain.base import Clinician
from services.journal.manifest import MANIFEST
from services.journal.store import JournalStore

SIZES = (100, 10_000, 100_000)
REQUESTS, WARMUP, CHUNK = 300, 30, 1_000
VALUES = (("8867-4", 72), ("8480-6", 132), ("59408-5", 96), ("29463-7", 68.5), ("8310-5", 36.9))
SETTINGS = (f"one patient each with {', '.join(f'{n:,}' for n in SIZES)} events (observations) "
            f"and a new patient; {REQUESTS} requests per figure after {WARMUP} warm-up, one "
            "client, one at a time")


def _label(n: int) -> str:
    return f"{n // 1000}k events" if n >= 1000 else f"{n} events"


async def _history(journal: JournalStore, patient: str, n: int, counter) -> str:
    """``n`` observation events on the patient's stream, 1,000 per append; the last token."""
    pid, nurse = UUID(patient), Clinician(hpr=NURSE_HPR, unit=HOME_CARE)
    actor = Actor(kind="practitioner", id=f"HPR-{NURSE_HPR}", organisation=MUNICIPALITY,
                  unit=HOME_CARE)
    now, done, token = datetime.now(UTC), 0, ""
    have = (await journal.current(pid))[1]
    while done < n - have:
        size = min(CHUNK, n - have - done)

        def decide(p, start=done, size=size):
            events = []
            for i in range(start, start + size):
                code, value = VALUES[i % len(VALUES)]
                at = now - timedelta(minutes=5 * (n - i))
                events += clinical.record_observation(p, clinical.RecordObservation(
                    code=code, value=value, effective_at=at), nurse, now)
            return events

        result = await journal.execute(pid, decide, actor)
        token = result.token.encode()
        done += size
        counter.n += size
    return token


async def _timed(session: aiohttp.ClientSession, method: str, path: str, body=None) -> float:
    t0 = perf_counter()
    async with session.request(method, path, json=body) as r:
        await r.read()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {(await r.text())[:200]}")
    return (perf_counter() - t0) * 1000


def _requests(patient: str) -> dict[str, tuple[str, str, dict | None]]:
    return {"write": ("POST", f"/patients/{patient}/observations",
                      {"code": "8867-4", "value": 70}),
            "overview": ("GET", f"/patients/{patient}", None),
            "FHIR search": ("GET", f"/fhir/Observation?patient={patient}&_count=20", None),
            "timeline": ("GET", f"/patients/{patient}/timeline?limit=20", None)}


async def _measure(port: int, token: str, patients: dict[int, str], progress) -> dict:
    """Per figure, the patients in turn, request by request: a moment of load on this shared
    machine falls on every history size alike, not on whichever was measured then."""
    out: dict[int, dict[str, list[float]]] = {n: {} for n in patients}
    async with session_for(port, token, 1) as s:
        for what in _requests("x"):
            async with tracked(progress, f"history: {what}",
                               (REQUESTS + WARMUP) * len(patients)) as c:
                for i in range(REQUESTS + WARMUP):
                    for n, patient in patients.items():
                        ms = await _timed(s, *_requests(patient)[what])
                        if i >= WARMUP:
                            out[n].setdefault(what, []).append(ms)
                        c.n += 1
    return out


async def history_phase(url: str, bootstrap: str, console, rows: list[Row],
                        notes: list[str]) -> None:
    res, uid, work = Resources(url, bootstrap), unique(), Path(tempfile.mkdtemp(prefix="bench-"))
    servers: list[Server] = []
    engine = None
    try:
        schemas = {s: await res.schema(f"bench_history_{uid}_{s}") for s in ("journal", "consent")}
        topics = {t: await res.topic(f"bench.{t}.{uid}") for t in ("consent.events",
                                                                    "audit.access",
                                                                    "journal.events",
                                                                    "welfare.events")}
        key = work / "key.pem"
        nurse, case_worker, leader = staff_tokens(key)
        engine = make_engine(url, schemas["journal"], pool_size=4)
        base = {"url": url, "bootstrap": bootstrap, "topics": topics, "key": str(key)}
        cfg = {m: base | {"schema": schemas[m], "port": free_port()} for m in schemas}
        console.log(f"[bold]history[/]: starting the journal and consent services "
                    f"(load {loadavg()})")
        journal = await start_server("journal", cfg["journal"], work / "journal.log")
        servers.append(journal)
        consent = await start_server("consent", cfg["consent"], work / "consent.log")
        servers.append(consent)
        sizes = (0, *SIZES)
        with make_progress(console) as progress:
            async with session_for(cfg["journal"]["port"], nurse, 4) as js, \
                    session_for(cfg["consent"]["port"], leader, 4) as cs:
                async with tracked(progress, "history set-up: patients", len(sizes)) as c:
                    patients = await register(js, cs, case_worker, engine, c, count=len(sizes))
            await consent.stop()
            servers.remove(consent)
            store = JournalStore(EventStore(engine, MANIFEST.registry(), topics))
            async with tracked(progress, "history set-up: events", sum(SIZES)) as c:
                t0, tokens = perf_counter(), []
                for patient, n in zip(patients[1:], SIZES, strict=True):
                    tokens.append(await _history(store, patient, n, c))
                setup_s = perf_counter() - t0
            t0 = perf_counter()
            for t in tokens:
                await wait_until_applied(engine, "journal_records", ConsistencyToken.decode(t),
                                         900)
            notes.append(f"history set-up: {sum(SIZES):,} observation events appended in "
                         f"{setup_s:,.0f} s, published and projected {perf_counter() - t0:,.0f} s "
                         "later")
            port = cfg["journal"]["port"]
            console.log(f"history: measuring (load {loadavg()})")
            got = await _measure(port, nurse, dict(zip(sizes, patients, strict=True)), progress)
            await journal.stop()
            servers.remove(journal)
            journal = await start_server("journal", cfg["journal"], work / "journal-2.log")
            servers.append(journal)
            cold: dict[int, dict[str, float]] = {}
            async with session_for(port, nurse, 1) as s:
                # the process's own warm-up (connections, first requests) is no patient's cost:
                # a read that touches no patient's stream goes first
                await _timed(s, "GET", "/fhir/metadata")
                for patient, n in zip(patients, sizes, strict=True):
                    req = _requests(patient)
                    cold[n] = {"write": await _timed(s, *req["write"]),
                               "overview": await _timed(s, *req["overview"])}
        _rows(got, cold, rows)
        shutil.rmtree(work, ignore_errors=True)
    except Exception as exc:  # noqa: BLE001 - report it, the other benchmarks' rows stand
        console.print_exception()
        notes.append(f"history: failed: {type(exc).__name__}: {exc} (logs: {work})")
        rows.append(JRow("history", f"FAILED ({type(exc).__name__})", None, None, "ms",
                         passed=False))
    finally:
        for s in list(servers):
            await s.stop()
        if engine is not None:
            await asyncio.wait_for(engine.dispose(), 30)
        await asyncio.wait_for(res.cleanup(), 300)


def _rows(got: dict[int, dict[str, list[float]]], cold: dict[int, dict[str, float]],
          rows: list[Row]) -> None:
    new, new_cold = got[0], cold[0]
    for n in SIZES:
        for what, lat in got[n].items():
            for q in (50, 99):
                rows.append(JRow(_label(n), f"history: {what} p{q} (vs a new patient)",
                                 pct(lat, q), pct(new[what], q), "ms"))
        for what, ms in cold[n].items():
            rows.append(JRow(_label(n), f"history: first {what} after restart (vs a new "
                                        "patient)", ms, new_cold[what], "ms"))
