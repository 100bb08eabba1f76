"""Medication: current-list reads and orders with decision support over HTTP, each next to a
raw FastAPI + asyncpg app doing the same work without the platform, in one run.

The medication service runs as deployed: its API under uvicorn **in its own process** (``python -m
bench.servers serve medication ...``, access logger and telemetry in it) and its relay and
projections (``access_facts``, ``medication_lists``, ``medication_cave``) in a second process
(``background``); the baseline app (``serve raw``) is one process. The load generator, the windows,
the CPU meter and the servers' start are ``bench/loadgen.py``'s (aiohttp, closed and open loop,
``Window``).

Set-up (not measured): ``jn.PATIENTS`` patients registered in the journal by a case worker,
each with a care relation for the GP's office declared on the consent service (as the journal
benchmark does, ``jn.register``); a CAVE on each in the journal (a drug reaction to
"Penicillin", which decision support applies to the class, ATC ``J01C``), projected by the
medication service into ``medication_cave``; the journal and the consent service are then
stopped (deployed, they run elsewhere). Each patient then gets 3 to 5 entries on the
medication list, ordered through the service's API by the GP (read the ``ETag``, order with
``If-Match``).

Measured on the same patients, both servers up (the one not measured idles); the closed-loop
windows alternate, the service's, the baseline's twice, the service's again
(``lg.alternated``), each side's two joined, and the open-loop windows follow, the service's
first (the service's second order window meets the lists its first grew; the notes give each
pair's ratio):

* current-list reads ``GET /patients/{id}/medication-list``: closed loop on ``CLIENTS``
  connections (reads/s, p50/p99, server CPU per read), then open loop at ``LOW_RATE``
  (information) and ``READ_RATE`` (p50/p99, the latency target), and at ``READ_TARGET``
  reads/s only when the service's closed loop reached 90 % of it (below that an open loop at
  that rate measures nothing but a queue; the baseline runs it when the service does);
* orders with decision support ``POST /patients/{id}/medication-list/prescriptions`` with
  ``If-Match``: closed loop on ``CLIENTS`` connections, each client on its own patients
  (information: orders/s, server CPU per order), then open loop at ``LOW_RATE``
  (information) and ``ORDER_RATE`` (p50/p99, the target). The client keeps each patient's
  version (from the ``ETag`` of its last order, or one read before the first window, not
  counted) and sends one order per patient at a time, so orders never conflict unless the
  service is wrong; a 412 (or any other status but 201) is counted and reported. Latency
  counts the POST only, plus, in the open loop, any wait behind the previous order of the same
  patient (from its due time). Every order names ``override_reason``, so an "avoid" warning
  does not turn it into a 422; products cycle through the sample catalogue, so orders meet
  interactions, duplicates, CAVE and maximum doses.

Open loop and windows as in ``bench/journal.py`` (request *i* due at *t0 + i/rate*, latency from
its due time; 2 s warm-up not counted). Between windows the service's ``medication_lists``
projection catches up with the orders and the server goes idle.

Baseline: FastAPI + an asyncpg pool (10..20 connections), the same uvicorn (uvloop, httptools),
no token, no access decision, no access log, no event store, no projection, no decision
support: a read SELECTs the ready current-list JSON (text) by primary key (the same documents,
copied from ``medication_lists.current`` after the set-up) and returns it with its version as
``ETag``; an order validates the same body with pydantic and, in one statement, bumps the
list's version if ``If-Match`` names it (412 otherwise) and INSERTs the order (jsonb).

``BENCH_PROFILE_DIR`` (optional): py-spy (``BENCH_PYSPY``, or on ``PATH``) samples the service's
processes during each of its closed-loop windows at 100 Hz and writes collapsed stacks there.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from time import perf_counter

import aiohttp

from bench import journal as jn
from bench import loadgen as lg
from bench.medication_setup import (DOSE, LISTS, OVERRIDE, cave, copy_lists,
                                    list_size, seed)
from bench.infra import Resources, loadavg, unique
from bench.report import Row
from bench.loadgen import Server
from bench.util import gather_bounded, make_progress, tracked
from libs.access.dev_issuer import DevIssuer
from libs.access.model import Role
from libs.config import Settings
from libs.devstack.procs import free_port
from libs.events.db import make_engine

PATIENTS, CLIENTS, SETUP_CLIENTS = jn.PATIENTS, lg.CLIENTS, jn.SETUP_CLIENTS
READ_RATE, ORDER_RATE = 200.0, 100.0     # offered loads of the open-loop windows (targets)
LOW_RATE = jn.LOW_RATE                   # and a lower one for both, for information
READ_TARGET, READ_P99_MS, ORDER_P99_MS = 2_000.0, 10.0, 50.0
GP_OFFICE, GP_HPR = "889640790", "7654321"
SETTINGS = (f"{PATIENTS} patients, each with a CAVE and 3–5 entries on the list; {CLIENTS} "
            f"clients closed-loop for {lg.WINDOW_S:.0f} s, open loop at {READ_RATE:.0f} "
            f"reads/s (and {READ_TARGET:,.0f}/s when the closed loop reaches 90 % of it) and "
            f"{ORDER_RATE:.0f} orders/s, and at {LOW_RATE:.0f}/s each for information, for "
            f"{lg.RATE_S:.0f} s (+{lg.WARMUP_S:.0f} s warm-up each)")


def products() -> list[str]:
    """The sample catalogue's active products, the order the orders cycle through them."""
    from services.medication.catalogue import sample_catalogue
    return [p.id for p in sample_catalogue().active_products()]


class Target(jn.Target):
    """``jn.Target`` on the medication API: reads of the current list, orders with ``If-Match``
    from the version the client holds for the patient (one order per patient at a time)."""

    def __init__(self, kind: str, patients: list[str], versions: dict[str, str],
                 order_products: list[str]):
        super().__init__(kind, patients)
        self.versions = versions            # patient -> ETag, kept across windows
        self.locks = {p: asyncio.Lock() for p in patients}
        self.products, self.n = order_products, 0
        self.last: dict[str, str] = {}      # patient -> consistency token of its last order
        self.warnings: Counter[str] = Counter()
        self.orders = 0

    @staticmethod
    async def _get(session: aiohttp.ClientSession, patient: str) -> int:
        async with session.get(f"/patients/{patient}/medication-list") as r:
            await r.read()
            return r.status

    async def _post(self, session: aiohttp.ClientSession, k: int, patient: str) -> int:
        async with self.locks[patient]:
            tag = self.versions.get(patient)
            if tag is None:  # after a refusal: read the version again, after our last write
                headers = {"X-Consistency-Token": self.last[patient]} \
                    if patient in self.last else {}
                async with session.get(f"/patients/{patient}/medication-list",
                                       headers=headers) as r:
                    await r.read()
                    tag = r.headers.get("ETag", 'W/"0"')
            self.n += 1
            body = {"product_id": self.products[self.n % len(self.products)], "dose": DOSE,
                    "override_reason": OVERRIDE}
            async with session.post(f"/patients/{patient}/medication-list/prescriptions",
                                    json=body, headers={"If-Match": tag}) as r:
                raw = await r.read()
                if r.status == 201:
                    self.versions[patient] = r.headers["ETag"]
                    if token := r.headers.get("X-Consistency-Token"):
                        self.tokens[patient] = self.last[patient] = token
                    self.orders += 1
                    for w in json.loads(raw).get("warnings", ()):
                        self.warnings[f"{w.get('kind')}:{w.get('level')}"] += 1
                else:
                    self.versions.pop(patient, None)
                return r.status


async def read_versions(session: aiohttp.ClientSession, patients: list[str]) -> dict[str, str]:
    """Each patient's list version, from a read (before the order windows; not counted)."""
    out: dict[str, str] = {}

    async def one(p: str) -> None:
        async with session.get(f"/patients/{p}/medication-list") as r:
            await r.read()
            assert r.status == 200, (p, r.status)
            out[p] = r.headers["ETag"]

    await gather_bounded([one(p) for p in patients], CLIENTS, 300)
    return out


# --- the phases ------------------------------------------------------------------------------

async def measure(ours: lg.Side, raw: lg.Side, patients: list[str], progress
                  ) -> tuple[dict[str, lg.Window], dict[str, lg.Window], Target]:
    """Reads, then orders: the closed-loop windows alternated with the baseline's
    (``lg.alternated``), then the open-loop windows, the service's first; reads open-loop at
    ``READ_TARGET`` on both when the service's closed loop reached 90 % of it. Each side has
    its own targets (an order's client keeps that server's list versions)."""
    got: tuple[dict[str, lg.Window], dict[str, lg.Window]] = ({}, {})
    catalogue = products()
    orders: list[Target] = []
    for what in ("reads", "orders"):
        if what == "orders":
            for side in (ours, raw):
                async with lg.session_for(side.port, side.token) as s:
                    orders.append(Target("writes", patients, await read_versions(s, patients),
                                         catalogue))
            targets = orders
        else:
            targets = [Target("reads", patients, {}, catalogue) for _ in (ours, raw)]
        got[0][f"{what} closed"], got[1][f"{what} closed"] = await lg.alternated(
            lambda n: lg.window("medication", ours, targets[0], what, None, progress, n),
            lambda n: lg.window("medication", raw, targets[1], what, None, progress, n))
        rates = [LOW_RATE, READ_RATE if what == "reads" else ORDER_RATE]
        if what == "reads" and got[0]["reads closed"].rate >= 0.9 * READ_TARGET:
            rates.append(READ_TARGET)
        for side, mine, target in zip((ours, raw), got, targets, strict=True):
            for rate in rates:
                if rate:   # LOW_RATE 0: none
                    mine[f"{what} open @ {rate:.0f}/s"] = await lg.window(
                        "medication", side, target, what, rate, progress)
    return got[0], got[1], orders[0]


async def medication_phase(url: str, bootstrap: str, console, rows: list[Row],
                           notes: list[str]) -> None:
    res, uid, work = Resources(url, bootstrap), unique(), Path(tempfile.mkdtemp(prefix="bench-"))
    closers: list = []
    servers: list[Server] = []

    async def stop(server: Server) -> None:
        await server.stop()
        servers.remove(server)

    async def start(mode: str, key: str | None = None) -> Server:
        server = await lg.start_server(mode, cfg[key or mode], work / f"{mode}.log")
        servers.append(server)
        return server

    try:
        schemas = {s: await res.schema(f"bench_medication_{uid}_{s}")
                   for s in ("medication", "journal", "consent", "raw")}
        topics = {t: await res.topic(f"bench.{t}.{uid}") for t in (
            "consent.events", "audit.access", "journal.events", "medication.events",
            "welfare.events")}
        key = work / "key.pem"
        issuer = DevIssuer.from_settings(Settings(environment="test", dev_key_path=key))
        gp = issuer.mint_practitioner(GP_HPR, jn.MUNICIPALITY, GP_OFFICE,
                                      (Role.physician, Role.prescriber), "Lege Fastlege",
                                      ttl=6 * 3600)
        case_worker = issuer.mint_practitioner("5550001", jn.MUNICIPALITY, jn.ALLOCATION,
                                               (Role.other,), "Kari Saksbehandler",
                                               ttl=6 * 3600)
        leader = issuer.mint_practitioner("1234567", jn.MUNICIPALITY, GP_OFFICE,  # assigns
                                          (Role.unit_leader,), "Leder", ttl=6 * 3600)
        engine = make_engine(url, schemas["medication"], pool_size=2)
        closers.append(engine.dispose)
        base = {"url": url, "bootstrap": bootstrap, "topics": topics, "key": str(key)}
        cfg = {m: base | {"schema": schemas[m], "port": free_port()} for m in schemas}
        console.log(f"[bold]medication[/]: starting the medication, journal and consent "
                    f"services (load {loadavg()})")
        t_setup = perf_counter()
        medication = await start("medication")
        journal = await start("journal")
        consent = await start("consent")
        mport = cfg["medication"]["port"]
        with make_progress(console) as progress:
            async with lg.session_for(cfg["journal"]["port"], gp, SETUP_CLIENTS * 2) as js, \
                    lg.session_for(cfg["consent"]["port"], leader, SETUP_CLIENTS) as cs:
                async with tracked(progress, "medication set-up: patients + care relations",
                                   PATIENTS) as c:
                    patients = await jn.register(js, cs, case_worker, engine, c)
                await stop(consent)
                async with tracked(progress, "medication set-up: CAVE in the journal",
                                   PATIENTS) as c:
                    await cave(js, patients, engine, c)
            await stop(journal)
            n_seed = sum(3 + n % 3 for n in range(PATIENTS))
            async with lg.session_for(mport, gp) as ms:
                async with tracked(progress, "medication set-up: lists", n_seed) as c:
                    seed_rate, _ = await seed(ms, patients, engine, c)
            doc_len, entries = await copy_lists(url, schemas["medication"], schemas["raw"])
            notes.append(f"medication set-up ({perf_counter() - t_setup:.0f} s): {PATIENTS} "
                         f"patients registered in the journal, care relations for the GP's "
                         f"office declared on the consent service and a CAVE (\"Penicillin\") "
                         f"in the journal on each (both services stopped afterwards); "
                         f"{n_seed} orders through the API on {CLIENTS} connections at "
                         f"{seed_rate:,.0f} orders/s; current lists {entries:.1f} entries and "
                         f"{doc_len:,} characters on average")
            raw = await start("medication-raw", "raw")
            console.log(f"medication: measuring the medication service and the raw baseline, "
                        f"alternating (load {loadavg()})")
            await lg.settle(medication, jn.Target("reads", patients), None)
            system, baseline, sys_orders = await measure(
                lg.Side(mport, gp, medication, "medication service", engine, read_model=LISTS,
                        profile="medication"),
                lg.Side(cfg["raw"]["port"], None, raw, "raw FastAPI + asyncpg"), patients,
                progress)
            grown = await list_size(url, schemas["medication"])
        add_rows(system, baseline, sys_orders, rows, notes)
        notes.append(f"medication: the reads ran on lists of {entries:.1f} entries; the orders "
                     f"grew them to {grown:.1f} entries (current list) on average by the end")
        shutil.rmtree(work, ignore_errors=True)
    except Exception as exc:  # noqa: BLE001 - report it, the other benchmarks' rows stand
        console.print_exception()
        notes.append(f"medication: failed: {type(exc).__name__}: {exc} (logs: {work})")
        rows.append(lg.JRow(f"{PATIENTS} patients", f"medication FAILED ({type(exc).__name__})",
                            None, None, "reads/s", passed=False))
    finally:
        for s in list(servers):
            await s.stop()
        for close in closers:
            await asyncio.wait_for(close(), 30)
        await asyncio.wait_for(res.cleanup(), 300)


def add_rows(s: dict[str, lg.Window], b: dict[str, lg.Window], orders: Target,
             rows: list[Row], notes: list[str]) -> None:
    size, R = f"{PATIENTS} patients", lg.JRow
    sustained = lambda w: w.achieved >= 0.95 * w.offered  # noqa: E731
    v = lambda w, f: None if w is None else f(w)  # noqa: E731

    def open_rows(what: str, name: str, unit: str, rates, p99_ms: float, target) -> None:
        """Open-loop rows at each rate run (on either server); the p99 target at ``target``
        rates, information at the others."""
        for rate in rates:
            o, bo = s.get(f"{what} open @ {rate:.0f}/s"), b.get(f"{what} open @ {rate:.0f}/s")
            if o is None and bo is None:
                continue
            judged = (f"≤ {p99_ms:.0f} ms at {rate:,.0f} {unit}", o is not None and
                      o.p(99) <= p99_ms and sustained(o) and o.ok) if rate in target else ()
            rows.extend([
                R(size, f"{what} sustained (offered {rate:,.0f}/s)", v(o, lambda w: w.achieved),
                  v(bo, lambda w: w.achieved), unit),
                R(size, f"{name} p50 @ {rate:,.0f}/s", v(o, lambda w: w.p(50)),
                  v(bo, lambda w: w.p(50)), "ms"),
                R(size, f"{name} p99 @ {rate:,.0f}/s", v(o, lambda w: w.p(99)),
                  v(bo, lambda w: w.p(99)), "ms", *judged)])

    c, bc = s["reads closed"], b["reads closed"]
    rows += [R(size, f"list reads/s ({CLIENTS} clients)", c.rate, bc.rate, "reads/s",
               f"≥ {READ_TARGET:,.0f} reads/s", c.rate >= READ_TARGET and c.ok),
             R(size, f"list read p50 ({CLIENTS} clients)", c.p(50), bc.p(50), "ms"),
             R(size, f"list read p99 ({CLIENTS} clients)", c.p(99), bc.p(99), "ms"),
             R(size, "service CPU per list read", c.cpu_ms, bc.cpu_ms, "ms")]
    open_rows("reads", "list read", "reads/s", (LOW_RATE, READ_RATE, READ_TARGET), READ_P99_MS,
              (READ_RATE, READ_TARGET))
    if f"reads open @ {READ_TARGET:.0f}/s" not in s:
        notes.append(f"medication reads: not measured open-loop at {READ_TARGET:,.0f} reads/s "
                     f"because the service's closed loop reached only {c.rate:,.0f} reads/s "
                     f"(an open loop beyond its capacity measures only the queue); the p99 "
                     f"target is judged at {READ_RATE:.0f} reads/s")
    c, bc = s["orders closed"], b["orders closed"]
    o = s[f"orders open @ {ORDER_RATE:.0f}/s"]
    rows += [R(size, f"orders/s ({CLIENTS} clients)", c.rate, bc.rate, "orders/s"),
             R(size, f"order p50 ({CLIENTS} clients)", c.p(50), bc.p(50), "ms"),
             R(size, f"order p99 ({CLIENTS} clients)", c.p(99), bc.p(99), "ms"),
             R(size, "service CPU per order", c.cpu_ms, bc.cpu_ms, "ms")]
    open_rows("orders", "order", "orders/s", (LOW_RATE, ORDER_RATE), ORDER_P99_MS,
              (ORDER_RATE,))
    if not sustained(o):
        notes.append(f"medication orders: the service answered only {o.achieved:,.0f} of the "
                     f"{o.offered:,.0f} orders/s offered, so the p99 target is missed whatever "
                     "the latency (latency counts from each order's due time)")
    for who, got in (("medication", s), ("baseline", b)):
        for k, w in got.items():
            notes.append(f"{who} {k}: {w.text('orders/s' if 'orders' in k else 'reads/s')}")
    notes.append("medication: closed-loop windows in the order service, baseline, baseline, "
                 "service; each pair of neighbours' ratio: reads "
                 f"{lg.pair_ratios(s['reads closed'], b['reads closed'])}, orders "
                 f"{lg.pair_ratios(s['orders closed'], b['orders closed'])}")
    shown = ", ".join(f"{k} {n / max(1, orders.orders):.2f}"
                      for k, n in orders.warnings.most_common())
    notes.append(f"medication orders: {orders.orders:,} orders answered 201 in the windows "
                 f"(with warm-ups); warnings per order: {shown or 'none'}")
    notes.append("medication: the service as deployed, its API in its own process (access "
                 "logger, telemetry SDK without exporter) and its relay and projections "
                 "(`access_facts`, `medication_lists` with its FHIR versions, `medication_cave`) "
                 "in a second one; every "
                 "request as the GP (physician, prescriber): token, access decision, durable "
                 "AccessLogged entry; an order loads the list (cached fold), reads the CAVE, "
                 "runs decision support and appends the prescription and its warnings. "
                 "Baseline: FastAPI + asyncpg in its own process, one SELECT of the ready "
                 "current-list JSON (text) by primary key / pydantic body and one statement "
                 "(version check and bump, INSERT of the order); no auth, no log, no decision "
                 "support. "
                 "Server CPU per request = its CPU over the closed-loop window ÷ requests sent, "
                 "the relay-and-projections process's CPU included")
    bad = {k: {st: n for st, n in w.status.items() if st not in (200, 201)}
           for k, w in s.items() if not w.ok}
    if bad:
        notes.append(f"medication: **some requests did not answer 200/201**: {bad} (412: the "
                     f"list version the client held was stale; {lg.ERROR}: no answer)")
