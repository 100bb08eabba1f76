"""Access: ``decide()`` latency in-process; the consent service's read throughput with and
without access logging, in one run.

Decide: four requests (practitioner, own record, guardian proxy, school disclosure) against one
realistic ``Facts``; baseline ``Facts.model_validate_json`` of the same document, the load every
guarded request pays before it decides. Reads: ``GET /patients/{id}/consents`` of the service
under uvicorn **in its own process** (``python -m bench.access serve ...``, telemetry on), and
its relay and projections in a second process (``python -m bench.servers background ...``), as
the chart and ``make run`` deploy them (the API process only serves); on 2 cores a server thread
here would share the GIL with the load generator (aiohttp, closed loop; lighter than httpx).
Windows log / no-log / no-log / log so drift cancels; the no-log server swaps
``app.state.access.logger`` for ``NoLog`` after startup. The CPU per read counts both service
processes, so relaying and projecting the log entries are in it. ``BENCH_PROFILE_DIR``: py-spy
samples both processes in each window (``loadgen.spied``; ``access-<mode>-<n>[-background]``).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import shutil
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from time import perf_counter, perf_counter_ns
from uuid import uuid4

import aiohttp

from bench.infra import Deadline, Resources, loadavg, pg_connect, unique
from bench.loadgen import spied, start_background
from bench.servers import unlogged
from bench.report import Row
from bench.util import Child, CpuMeter, cpu_text, pct
from libs.audit.log import entry_for
from libs.access.dev_issuer import DevIssuer
from libs.kernel.identifiers import make_synthetic
from libs.access.model import (Action, Block, CareRelation, Citizen, Consent, EmergencyAccess,
                               Facts, Guardian, Practitioner, Resource, Restriction, Role,
                               Sector, SectorOfficial)
from libs.access.policy import decide
from libs.config import REPO_ROOT, Settings
from libs.devstack.procs import free_port, port_open
from libs.events.consistency import ConsistencyToken, wait_until_applied
from libs.events.db import make_engine
from libs.kernel.heap import settle_heap

PATIENTS, CONNECTIONS, WARMUP_S, WINDOW_S, DECIDE_N, TARGET = 200, 32, 2.0, 10.0, 20_000, 0.85
ORDER = ("log", "nolog", "nolog", "log")
HOME_CARE, MUNICIPALITY, SCHOOL, KINDERGARTEN = "974600978", "123456785", "889640782", "987654325"
SETTINGS = (f"decide × {DECIDE_N:,} per case; reads: {PATIENTS} patients, {CONNECTIONS} "
            f"connections, windows {'/'.join(ORDER)} of {WINDOW_S:.0f} s (+{WARMUP_S:.0f} s "
            "warm-up each)")


class ARow(Row):  # report.Row formats ev/s and ms; these rows also µs, req/s and rows
    def fmt(self, v: float | None) -> str:
        if v is None or self.unit in ("ev/s", "ms"):
            return super().fmt(v)
        return f"{v:,.1f} µs" if self.unit == "µs" else f"{v:,.0f} {self.unit}"

    @property
    def ratio(self) -> str:
        if self.unit == "req/s" and self.value is not None and self.baseline:
            return f"{self.value / self.baseline * 100:.0f} %"
        return "—" if self.unit == "rows" else super().ratio


# --- decision latency ------------------------------------------------------------------------

def decision_cases(now: datetime) -> tuple[Facts, dict[str, tuple]]:
    ago, u, pid, mum, dad = (lambda d: now - timedelta(days=d)), uuid4, uuid4(), uuid4(), uuid4()
    rel = lambda unit, d, **kw: CareRelation(relation_id=u(), unit=unit, purpose="care",  # noqa
                                             basis="episode", started_at=ago(d), **kw)
    facts = Facts(
        patient_id=pid, registered=True, id_type="fnr", birth_date=ago(int(13.5 * 365)).date(),
        care_relations=(rel(KINDERGARTEN, 400, ended_at=ago(399)),
                        rel("999999999", 900, hpr="7654321"), rel(HOME_CARE, 30)),
        blocks=(Block(block_id=u(), target_kind="practitioner", target="1111111", since=ago(9)),),
        emergency_accesses=(EmergencyAccess(access_id=u(), hpr="7654321", unit="999999999",
                                            basis="necessity", granted_at=ago(2),
                                            expires_at=ago(2) + timedelta(hours=4)),),
        consents=(Consent(consent_id=u(), sector=Sector.school, recipient_org=SCHOOL,
                          grantor=mum, categories={"vaccinations", "medication"},
                          purpose="school health service", valid_from=ago(100)),
                  Consent(consent_id=u(), sector=Sector.kindergarten, categories={"allergies"},
                          purpose="meals", valid_from=ago(900), withdrawn_at=ago(50))),
        restrictions=(Restriction(restriction_id=u(), kind="locked", target="entry-41",
                                  notify_on_open=True, since=ago(20)),
                      Restriction(restriction_id=u(), kind="hidden_from_guardians",
                                  target="sexual_health", since=ago(5))),
        guardians=(Guardian(guardian=mum, shares_address=True, since=ago(4900)),
                   Guardian(guardian=dad, shares_address=False, since=ago(4900))))
    nurse = Practitioner(person_id="sub-n", hpr="9144889", org_parent=MUNICIPALITY,
                         org_child=HOME_CARE, roles={Role.nurse})
    school = SectorOfficial(person_id="sub-s", sector=Sector.school, org=SCHOOL)
    return facts, {  # name: (subject, action, resource, the reason it must give)
        "practitioner read": (nurse, Action.read, Resource(patient_id=pid), "care_relation"),
        "citizen read": (Citizen(person_id="sub-p", patient_id=pid), Action.read,
                         Resource(patient_id=pid), "own_record"),
        "proxy read": (Citizen(person_id="sub-m", patient_id=mum, acting_for=pid), Action.read,
                       Resource(patient_id=pid, category="medication"), "guardian_12_16"),
        "sector disclosure": (school, Action.disclose,
                              Resource(patient_id=pid, category="vaccinations"), "consent")}


def _times_us(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = perf_counter_ns()
        fn()
        out.append((perf_counter_ns() - t0) / 1000)
    return out


def decision_latency(rows: list[Row], notes: list[str]) -> None:
    now = datetime.now(UTC)
    facts, cases = decision_cases(now)
    doc = facts.model_dump_json()
    gc.collect()
    load = _times_us(lambda: Facts.model_validate_json(doc), DECIDE_N)
    for name, (who, action, res, reason) in cases.items():
        got = decide(who, action, res, facts, now)
        assert got.permit and got.reason == reason, (name, got)
        t = _times_us(lambda: decide(who, action, res, facts, now), DECIDE_N)
        for q in (50, 99):
            rows.append(ARow("—", f"decide p{q}: {name}", pct(t, q), pct(load, q), "µs"))
    d = decide(who, action, res, facts, now)  # the last case's: building its log entry
    e = _times_us(lambda: entry_for(who, action, res, d, service="consent", now=now), DECIDE_N)
    notes.append(f"decide: {DECIDE_N:,} timed calls per case in this process; baseline = "
                 f"`Facts.model_validate_json` of the same facts ({len(doc):,} bytes), which every "
                 f"guarded request pays first; `entry_for` (the log entry, built in both read "
                 f"runs) p50 {pct(e, 50):.1f} / p99 {pct(e, 99):.1f} µs")


# --- read throughput -------------------------------------------------------------------------

def national_ids(n: int) -> list[str]:
    out, born = [], date(1931, 1, 3)
    while len(out) < n:
        born += timedelta(days=97)
        nid = next((x for i in range(500) if (x := make_synthetic(born, i))), None)
        out += [nid] if nid else []
    return out


async def start_server(args: list[str], log: Path, port: int) -> Child:
    child = await _spawn("consent service", "serve", args, log)
    deadline = Deadline(90, "consent service start")
    while not port_open(port):  # uvicorn listens once the lifespan (migrations, logger) is up
        if child.proc.returncode is not None:
            raise RuntimeError(f"the consent service exited; see {log}")
        deadline.check()
        await asyncio.sleep(0.1)
    return child


async def _spawn(name: str, command: str, args: list[str], log: Path) -> Child:
    child = Child(name, args, log)  # for its bounded stop()
    with open(log, "ab") as err:
        child.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.access", command, *args, stdout=err, stderr=err,
            cwd=REPO_ROOT, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    return child


async def register(session: aiohttp.ClientSession, engine, nids: list[str],
                   leader: dict[str, str]) -> list[str]:
    sem, tokens = asyncio.Semaphore(8), []

    async def one(nid: str) -> str:
        async with sem:
            async with session.post("/persons", json={"national_id": nid}) as r:
                assert r.status == 201, await r.text()
                patient = (await r.json())["patient_id"]
            async with session.post(f"/patients/{patient}/care-relations", headers=leader,
                                    json={"purpose": "home care", "basis": "service_decision",
                                          "reason": "vedtak om hjemmesykepleie"}) as r:
                assert r.status == 201, await r.text()
                tokens.append(r.headers["X-Consistency-Token"])
            return patient

    patients = await asyncio.wait_for(asyncio.gather(*map(one, nids)), 300)
    for t in tokens:  # the access_facts projection has every relation before the clock starts
        await wait_until_applied(engine, "access_facts", ConsistencyToken.decode(t), 60)
    return patients


async def drive(session: aiohttp.ClientSession, patients: list[str]) -> dict:
    """Closed loop on CONNECTIONS connections; requests completed inside the window count."""
    lat, status, sent, t0 = [], {}, 0, perf_counter()
    start, end = t0 + WARMUP_S, t0 + WARMUP_S + WINDOW_S

    async def worker(k: int) -> None:
        nonlocal sent
        i = k * len(patients) // CONNECTIONS
        while (a := perf_counter()) < end:
            sent += 1
            async with session.get(f"/patients/{patients[i % len(patients)]}/consents") as r:
                await r.read()
            i, b = i + 1, perf_counter()
            if start <= b <= end:
                lat.append(b - a)
                status[r.status] = status.get(r.status, 0) + 1

    await asyncio.wait_for(asyncio.gather(*map(worker, range(CONNECTIONS))), WINDOW_S + 90)
    return {"rate": len(lat) / WINDOW_S, "lat": lat, "status": status, "sent": sent,
            "wall": perf_counter() - t0}


async def read_throughput(url: str, bootstrap: str, console, rows: list[Row],
                          notes: list[str]) -> None:
    res, uid, work = Resources(url, bootstrap), unique(), Path(tempfile.mkdtemp(prefix="bench-"))
    closers: list = []
    try:
        schema = await res.schema(f"bench_access_{uid}")
        topics = {t: await res.topic(f"bench.{t}.{uid}") for t in ("consent.events",
                                                                    "audit.access",
                                                                    "journal.events")}
        key = work / "key.pem"
        issuer = DevIssuer.from_settings(Settings(environment="test", dev_key_path=key))
        nurse = issuer.mint_practitioner("9144889", MUNICIPALITY, HOME_CARE, (Role.nurse,), "Nina")
        leader = {"Authorization": "Bearer " + issuer.mint_practitioner(   # assigns (AC3)
            "1234567", MUNICIPALITY, HOME_CARE, (Role.unit_leader,), "Leder")}
        engine, db = make_engine(url, schema, pool_size=2), await pg_connect(url, schema)
        closers += [engine.dispose, db.close]
        count = "SELECT count(*) FROM events WHERE type = 'audit.AccessLogged'"
        patients: list[str] = []
        got: dict[str, list[dict]] = {"log": [], "nolog": []}
        for i, mode in enumerate(ORDER):
            port, common = free_port(), [url, schema, bootstrap, json.dumps(topics), str(key)]
            server = await start_server(common + [str(port), mode], work / f"server-{i}.log",
                                        port)
            background = await start_background("consent", {
                "url": url, "schema": schema, "bootstrap": bootstrap, "topics": topics,
                "key": str(key)}, work / f"background-{i}.log")
            try:
                async with aiohttp.ClientSession(
                        f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {nurse}"},
                        connector=aiohttp.TCPConnector(limit=CONNECTIONS)) as session:
                    if not patients:
                        console.log(f"access: registering {PATIENTS} patients")
                        patients = await register(session, engine, national_ids(PATIENTS),
                                                  leader)
                    console.log(f"access: reads, {mode} (load {loadavg()})")
                    before = await db.fetchval(count)
                    cpu = CpuMeter({server.pid: "consent API", background.pid: "consent relay "
                                    "and projections", os.getpid(): "load generator"})
                    async with spied(f"access-{mode}-{len(got[mode]) + 1}",
                                     WARMUP_S + WINDOW_S, {"": server.pid,
                                                           "-background": background.pid}):
                        f = await drive(session, patients)
                    f["cpu"] = cpu.stop()
            finally:
                await server.stop()
                await background.stop()
            f["logged"] = await db.fetchval(count) - before
            f["cpu_ms"] = sum(f["cpu"].get(k, 0) for k in ("consent API", "consent relay and "
                                                           "projections")) \
                * f["wall"] / f["sent"] * 1e3
            got[mode].append(f)
            notes.append(f"reads {mode} #{len(got[mode])}: {f['rate']:,.0f} req/s, p50 "
                         f"{pct(f['lat'], 50) * 1e3:.1f} / p99 {pct(f['lat'], 99) * 1e3:.1f} ms, "
                         f"{f['status']}, {f['sent']:,} sent (with warm-up), {f['logged']:,} "
                         f"logged; service CPU {f['cpu_ms']:.2f} ms/read; {cpu_text(f['cpu'])}")
        add_read_rows(got, rows, notes)
        shutil.rmtree(work, ignore_errors=True)
    except Exception as exc:  # noqa: BLE001 - report it, the other benchmarks' rows stand
        console.print_exception()
        notes.append(f"access reads: failed: {type(exc).__name__}: {exc} (logs: {work})")
        rows.append(ARow(f"{PATIENTS} patients", f"reads FAILED ({type(exc).__name__})", None,
                         None, "req/s", passed=False))
    finally:
        for close in closers:
            await asyncio.wait_for(close(), 30)
        await asyncio.wait_for(res.cleanup(), 300)


def add_read_rows(got: dict[str, list[dict]], rows: list[Row], notes: list[str]) -> None:
    a, b, size = got["log"], got["nolog"], f"{PATIENTS} patients"
    mean = lambda fs, k: sum(f[k] for f in fs) / len(fs)  # noqa: E731
    lat = lambda fs, q: pct([x for f in fs for x in f["lat"]], q) * 1000  # noqa: E731
    only_200 = all(set(f["status"]) == {200} for f in a + b)
    logged, sent = sum(f["logged"] for f in a), sum(f["sent"] for f in a)
    rows += [
        ARow(size, "consent reads/s with access log", mean(a, "rate"), mean(b, "rate"), "req/s",
             "≥ 85 % of no-log (logging ≤ 15 %)",
             mean(a, "rate") >= TARGET * mean(b, "rate") and only_200),
        ARow(size, "consent read p50 latency", lat(a, 50), lat(b, 50), "ms"),
        ARow(size, "consent read p99 latency", lat(a, 99), lat(b, 99), "ms"),
        ARow(size, "service CPU per read", mean(a, "cpu_ms"), mean(b, "cpu_ms"), "ms"),
        ARow(size, "AccessLogged rows written", logged, sum(f["logged"] for f in b), "rows",
             "one per read with log, none without",
             logged == sent and not any(f["logged"] for f in b))]
    notes.append(f"reads: `GET /patients/{{id}}/consents` as a nurse with a unit care relation, "
                 f"{CONNECTIONS} connections closed-loop over {PATIENTS} patients; measured = "
                 "real `AccessLogger`, baseline = `log()` a no-op (the entry is still built); "
                 "rate = mean of the windows, latencies pooled; service CPU per read = the CPU "
                 "of the API process and of the relay-and-projections process over the run ÷ "
                 "reads sent, so relaying and projecting the log entries are in it, and "
                 "telemetry (SDK, no exporter), as deployed. "
                 f"{sent:,} reads sent with log, {logged:,} entries written"
                 + ("" if only_200 else "; **some reads did not answer 200**"))


async def access_phase(url: str, bootstrap: str, console, rows: list[Row],
                       notes: list[str]) -> None:
    console.log(f"[bold]access[/]: decide() latency (load {loadavg()})")
    decision_latency(rows, notes)
    await read_throughput(url, bootstrap, console, rows, notes)


# --- the server process ----------------------------------------------------------------------

def serve(url: str, schema: str, bootstrap: str, topics: str, key: str, port: str,
          mode: str) -> None:
    import uvicorn

    from libs.web.one_write import OneWriteHttp
    from services.consent.app import Options, create_app
    s = Settings(database_url=url, kafka_bootstrap_servers=bootstrap, environment="test",
                 dev_key_path=Path(key))
    app = create_app(s, Options(schema=schema, topic_names=json.loads(topics),
                                background=False))   # as `ehr run api`: it only serves
    if mode == "nolog":
        unlogged(app)   # what the baseline server does instead of writing the access log
    settle_heap()   # as `ehr run api` does (libs/kernel/heap.py), and its one write per response
    uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning", access_log=False,
                http=OneWriteHttp)


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    serve(*sys.argv[2:])
