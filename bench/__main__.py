"""``python -m bench``: append, relay, replay and end-to-end lag, each next to its raw baseline;
then access (``decide()`` latency, reads with and without access logging; ``--sizes ""
--skip-lag --skip-journal`` runs it alone); then the journal (signed-note writes and overview
reads over HTTP next to a raw FastAPI + asyncpg app; ``--sizes "" --skip-lag --skip-access
--skip-medication`` runs it alone); then the medication service (current-list reads and orders
with decision support over HTTP next to a raw FastAPI + asyncpg app; ``--sizes "" --skip-lag
--skip-access --skip-journal`` runs it alone); then a record's cost as its history grows
(``bench/history.py``: write, overview, FHIR search and timeline for one patient at 100, 10k and
100k events next to a new patient; ``--only-history`` runs it alone).

Starts its own PostgreSQL and Kafka under .local/bench-stack (unless DATABASE_URL /
KAFKA_BOOTSTRAP_SERVERS are set), creates fresh schemas and topics per size, drops them after,
and writes the table to bench/RESULTS.md.

``BENCH_API_WORKERS=N`` serves each of our APIs with N processes on one port
(``bench/servers.py``; default 1, as each of the chart's API pods runs one); the FHIR
benchmark reads it too.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import tempfile
import time
from pathlib import Path

import typer
from rich.console import Console

from bench import access as ac
from bench import append as ap
from bench import history as hs
from bench import journal as jn
from bench import lag as lg
from bench import medication as md
from bench import publish as pb
from bench import replay as rp
from bench.infra import (PARTITIONS, Resources, loadavg, machine, pg_connect, stack,
                         unique)
from bench.report import Row, rich_table, write_results
from bench.servers import API_WORKERS_ENV, access_log_setting, api_workers
from bench.util import cpu_text, make_progress, telemetry_setting, traced_as_deployed, tracked
from libs.kernel.heap import settle_heap

console = Console() if sys.stdout.isatty() else Console(width=150)
app = typer.Typer(add_completion=False, help=__doc__)

APPEND_TARGET, REPLAY_TARGET, REPLAY_FLOOR, LAG_TARGET_MS = 0.70, 0.50, 10_000, 250.0


def _size_label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else (
        f"{n // 1000}k" if n % 1000 == 0 else str(n))


async def _settle(database_url: str) -> None:
    """Between phases: flush dirty pages so one phase's checkpoint does not land in the next."""
    try:
        conn = await pg_connect(database_url, "public")
        try:
            await conn.execute("CHECKPOINT", timeout=300)
        finally:
            await conn.close()
    except Exception as exc:  # noqa: BLE001 - not a superuser on an external server: skip
        console.log(f"[yellow]CHECKPOINT skipped: {exc}")
    gc.collect()
    await asyncio.sleep(1)


async def one_size(n: int, url: str, bootstrap: str, writers: int, relay_batch: int,
                   proj_batch: int, rows: list[Row], notes: list[str]) -> None:
    label = _size_label(n)
    res = Resources(url, bootstrap)
    uid = unique()
    try:
        store_schema = await res.schema(f"bench_{label.lower()}_{uid}_store")
        raw_schema = await res.schema(f"bench_{label.lower()}_{uid}_raw")
        topic = await res.topic(f"bench.events.{label.lower()}.{uid}")
        raw_topic = await res.topic(f"bench.raw.{label.lower()}.{uid}")
        with make_progress(console) as progress:
            console.log(f"[bold]{label}[/]: append (load {loadavg()})")
            async with tracked(progress, f"{label} append: raw asyncpg", n) as c:
                raw_a = await ap.raw_append(url, raw_schema, raw_topic, n, writers, c)
            await _settle(url)
            async with tracked(progress, f"{label} append: EventStore", n) as c:
                sto_a = await ap.store_append(url, store_schema, topic, n, writers, c)
            await ap.verify(url, store_schema, n)
            await ap.verify(url, raw_schema, n)
            rows += [
                Row(label, "append events/s", sto_a.rate, raw_a.rate, "ev/s", "≥ 70 % of baseline",
                    sto_a.rate >= APPEND_TARGET * raw_a.rate),
                Row(label, "append p50 latency", sto_a.p(50), raw_a.p(50), "ms"),
                Row(label, "append p99 latency", sto_a.p(99), raw_a.p(99), "ms"),
            ]
            console.log(f"append: store {sto_a.rate:,.0f}/s vs raw {raw_a.rate:,.0f}/s")
            await _settle(url)

            console.log(f"[bold]{label}[/]: relay (load {loadavg()})")
            messages = await pb.load_outbox(url, store_schema)
            async with tracked(progress, f"{label} relay: raw aiokafka", n) as c:
                raw_p = await pb.raw_publish(bootstrap, raw_topic, messages, relay_batch, c)
            del messages
            await _settle(url)
            async with tracked(progress, f"{label} relay: OutboxRelay", n) as c:
                rel_p = await pb.relay_publish(url, store_schema, bootstrap, n, relay_batch, c)
            rows.append(Row(label, "relay events/s", rel_p.rate, raw_p.rate, "ev/s"))
            console.log(f"relay: {rel_p.rate:,.0f}/s vs raw {raw_p.rate:,.0f}/s")
            await _settle(url)

            console.log(f"[bold]{label}[/]: replay (load {loadavg()})")
            async with tracked(progress, f"{label} replay: raw consume+copy", n) as c:
                raw_r = await rp.raw_replay(url, raw_schema, bootstrap, topic, PARTITIONS, n,
                                            proj_batch, c)
            await _settle(url)
            async with tracked(progress, f"{label} replay: replay()", n) as c:
                sys_r = await rp.projection_replay(url, store_schema, bootstrap, topic, n,
                                                   proj_batch, c)
            rows.append(Row(label, "replay events/s", sys_r.rate, raw_r.rate, "ev/s",
                            "≥ 50 % of baseline and ≥ 10,000 ev/s",
                            sys_r.rate >= REPLAY_TARGET * raw_r.rate
                            and sys_r.rate >= REPLAY_FLOOR))
            console.log(f"replay: {sys_r.rate:,.0f}/s vs raw {raw_r.rate:,.0f}/s")
    except Exception as exc:  # noqa: BLE001 - report it, go on with the next size
        console.print_exception()
        notes.append(f"{label}: failed: {type(exc).__name__}: {exc}")
        rows.append(Row(label, f"FAILED ({type(exc).__name__})", None, None, "ev/s",
                        passed=False))
    finally:
        await asyncio.wait_for(res.cleanup(), 600)


async def lag_phase(url: str, bootstrap: str, size: str, rate: float, seconds: float,
                    warmup: float, writers: int, rows: list[Row], notes: list[str],
                    primary: bool = True) -> None:
    """The lag pair at one offered rate. The primary rate carries the target; an extra rate
    (``--lag-extra-rate``) is information: how the same pipeline behaves below saturation."""
    res = Resources(url, bootstrap)
    n = int(rate * (seconds + warmup))
    workdir = Path(tempfile.mkdtemp(prefix="bench-lag-"))
    try:
        with make_progress(console) as progress:
            console.log(f"[bold]lag[/] at {rate:.0f} events/s (load {loadavg()})")
            async with tracked(progress, "lag: EventStore + relay + projection", n) as c:
                sys_l = await lg.system_lag(res, workdir, rate, seconds, warmup, writers, c)
            await _settle(url)
            async with tracked(progress, "lag: raw dual write + raw consumer", n) as c:
                raw_l = await lg.raw_lag(res, workdir, rate, seconds, warmup, writers, c)
        sustained = sys_l.achieved >= 0.95 * sys_l.offered
        rows += [
            Row(size, f"lag: load sustained (offered {rate:.0f})", sys_l.achieved,
                raw_l.achieved, "ev/s"),
            Row(size, f"lag p50 commit→visible @ {rate:.0f}", sys_l.p(50), raw_l.p(50), "ms"),
            Row(size, f"lag p99 commit→visible @ {rate:.0f}", sys_l.p(99), raw_l.p(99), "ms",
                *((f"≤ {LAG_TARGET_MS:.0f} ms at {rate:.0f} ev/s",
                   sys_l.p(99) <= LAG_TARGET_MS and sustained) if primary else ())),
            Row(size, f"lag max commit→visible @ {rate:.0f}", sys_l.p(100), raw_l.p(100), "ms"),
            Row(size, f"lag p99 due→visible @ {rate:.0f}", sys_l.p_due(99), raw_l.p_due(99),
                "ms"),
        ]
        if not sustained and primary:
            notes.append(f"lag: the writer sustained only {sys_l.achieved:.0f} of the "
                         f"{rate:.0f} events/s offered, so the p99 target at {rate:.0f} "
                         "events/s is not met whatever the commit→visible figure; "
                         "due→visible counts the time events waited to be appended")
        for name, f in (("system", sys_l), ("baseline", raw_l)):
            notes.append(f"lag {name} @ {rate:.0f}: offered {f.offered:.0f} ev/s, achieved "
                         f"{f.achieved:.0f} ev/s over the whole run, {len(f.lags)} events "
                         f"measured, latest start {f.max_slip_ms:.1f} ms behind schedule; "
                         f"split: {f.split()}; CPU while writing: {cpu_text(f.cpu)}")
        console.log(f"lag p99: {sys_l.p(99):.1f} ms vs raw {raw_l.p(99):.1f} ms")
    except Exception as exc:  # noqa: BLE001
        console.print_exception()
        notes.append(f"lag @ {rate:.0f}: failed: {type(exc).__name__}: {exc} (logs: {workdir})")
        rows.append(Row(size, f"lag @ {rate:.0f} FAILED ({type(exc).__name__})", None, None,
                        "ms", passed=False))
    finally:
        await asyncio.wait_for(res.cleanup(), 300)


async def run(handle, sizes: list[int], out: Path, writers: int, relay_batch: int,
              proj_batch: int, lag_rate: float, lag_seconds: float, lag_warmup: float,
              skip_lag: bool, extra_notes: list[str], lag_extra_rate: float = 0,
              skip_access: bool = False, skip_journal: bool = False,
              skip_medication: bool = False, skip_history: bool = False) -> list[Row]:
    info = await machine(handle)
    console.log(f"stack: {handle.mode}; PostgreSQL {info['PostgreSQL']}; Kafka {info['Kafka']}")
    rows: list[Row] = []
    notes: list[str] = list(extra_notes)
    started = time.monotonic()

    async def lags(h, label: str) -> None:
        await lag_phase(h.database_url, h.kafka_bootstrap, label, lag_rate, lag_seconds,
                        lag_warmup, writers, rows, notes)
        if lag_extra_rate:
            await _settle(h.database_url)
            await lag_phase(h.database_url, h.kafka_bootstrap, label, lag_extra_rate,
                            lag_seconds, lag_warmup, writers, rows, notes, primary=False)

    for i, n in enumerate(sizes):
        t0 = time.monotonic()
        await one_size(n, handle.database_url, handle.kafka_bootstrap, writers, relay_batch,
                       proj_batch, rows, notes)
        notes.append(f"{_size_label(n)}: all phases took {time.monotonic() - t0:,.0f} s")
        if i == 0 and not skip_lag:
            await lags(handle, _size_label(n))
        console.print(rich_table(rows, "results so far"))
    if not sizes and not skip_lag:  # --sizes "": the lag benchmark alone
        await lags(handle, "—")
    if not skip_access:
        await ac.access_phase(handle.database_url, handle.kafka_bootstrap, console, rows, notes)
        console.print(rich_table(rows, "results so far"))
    if not skip_journal:
        if not skip_access:
            await _settle(handle.database_url)
        await jn.journal_phase(handle.database_url, handle.kafka_bootstrap, console, rows, notes)
        console.print(rich_table(rows, "results so far"))
    if not skip_medication:
        if sizes or not (skip_lag and skip_access and skip_journal):
            await _settle(handle.database_url)
        await md.medication_phase(handle.database_url, handle.kafka_bootstrap, console, rows,
                                  notes)
        console.print(rich_table(rows, "results so far"))
    if not skip_history:
        await _settle(handle.database_url)
        await hs.history_phase(handle.database_url, handle.kafka_bootstrap, console, rows, notes)
        console.print(rich_table(rows, "results so far"))
    notes.append(f"whole run: {time.monotonic() - started:,.0f} s")
    settings = {"sizes": ", ".join(_size_label(n) for n in sizes), "writers": str(writers),
                "relay batch": str(relay_batch), "projection batch": str(proj_batch),
                "partitions": str(PARTITIONS),
                "lag": "not run" if skip_lag else
                f"{lag_rate:.0f} ev/s × {lag_seconds:.0f} s (+{lag_warmup:.0f} s warm-up)"
                + (f", and {lag_extra_rate:.0f} ev/s for information" if lag_extra_rate else ""),
                "access": "not run" if skip_access else ac.SETTINGS,
                "journal": "not run" if skip_journal else jn.SETTINGS,
                "medication": "not run" if skip_medication else md.SETTINGS,
                "history": "not run" if skip_history else hs.SETTINGS,
                "OpenTelemetry": telemetry_setting(),
                "API processes per service": f"{api_workers()} ({API_WORKERS_ENV})",
                "access log": access_log_setting()}
    write_results(out, info, settings, rows, notes)
    console.print(rich_table(rows, f"event backbone benchmark ({info['date']})"))
    console.print(f"results written to {out}")
    return rows


@app.command()
def main(
    sizes: str = typer.Option("10000,100000,1000000", help="event counts, comma-separated (\"\" = the lag benchmark alone)"),
    out: Path = typer.Option(Path("bench/RESULTS.md"), help="results file (new runs inserted)"),
    writers: int = typer.Option(8, help="concurrent writers (append) / appends in flight (lag)"),
    relay_batch: int = typer.Option(500, help="OutboxRelay batch size (and raw send window)"),
    projection_batch: int = typer.Option(500, help="ProjectionRunner batch (and raw consumer)"),
    lag_rate: float = typer.Option(500, help="offered load of the lag run, events/s"),
    lag_seconds: float = typer.Option(20, help="measured seconds of the lag run"),
    lag_warmup: float = typer.Option(2, help="warm-up seconds before the lag window"),
    lag_extra_rate: float = typer.Option(
        250, help="a second, lower offered load for the lag run, for information (0 = none)"),
    skip_lag: bool = typer.Option(False, help="do not run the lag benchmark"),
    skip_access: bool = typer.Option(False, help="do not run the access benchmark (decide, "
                                     "reads with/without access logging)"),
    skip_journal: bool = typer.Option(False, help="do not run the journal benchmark (signed "
                                      "notes and overview reads over HTTP vs raw FastAPI)"),
    skip_medication: bool = typer.Option(False, help="do not run the medication benchmark "
                                         "(current-list reads and orders with decision support "
                                         "over HTTP vs raw FastAPI)"),
    skip_history: bool = typer.Option(False, help="do not run the history-size benchmark"),
    only_history: bool = typer.Option(False, help="run the history-size benchmark alone"),
    note: list[str] = typer.Option([], help="a note to add to the results (repeatable)"),
) -> None:
    logging.basicConfig(level=logging.WARNING)
    size_list = [int(s.replace("_", "")) for s in sizes.split(",") if s.strip()]
    if only_history:
        size_list, skip_lag, skip_access, skip_journal, skip_medication = [], True, True, True, \
            True
    out = out if out.is_absolute() else Path.cwd() / out
    settle_heap()   # as `ehr replay` and every service process do (libs/kernel/heap.py)
    with traced_as_deployed(), stack() as handle:   # its data (GBs at 1M events) goes on exit
        rows = asyncio.run(run(handle, size_list, out, writers, relay_batch,
                               projection_batch, lag_rate, lag_seconds, lag_warmup,
                               skip_lag, list(note), lag_extra_rate, skip_access,
                               skip_journal, skip_medication, skip_history))
    if any(r.passed is False for r in rows):
        console.print("[bold red]some targets were missed (see the table)")


if __name__ == "__main__":
    app()
