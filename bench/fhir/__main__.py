"""``python -m bench.fhir`` (``make bench-fhir``): the record's FHIR API against the HAPI FHIR
JPA server 8.8 on the same machine, the same client and workload (``bench/fhir/workload.py``)
for both (issues 17 and 19).

- **ours**: the consent service, the journal and the medication service as deployed, behind
  the one FHIR base (nginx), as a home-care nurse (``bench/fhir/ours.py``);
- **HAPI**: our small Spring Boot app around HAPI's JPA server (``bench/fhir/hapi``), heap
  2 GB, on the same PostgreSQL server in its own database (``bench/fhir/hapi_server.py``);
- **floor**: the same interactions on FastAPI and asyncpg with no platform at all (no
  validation, token, access log or events), one process, in a database of its own
  (``bench/fhir/floor.py``): what this machine gives a Python service at best. ``--no-floor``
  leaves it out.

Each side first gets ``--patients`` transactions (its patients and Observations to read and
search), then HAPI is warmed up for ``--warmup`` seconds (its JIT keeps improving for minutes);
then ``--rounds`` rounds, each running every phase on both sides one after the other (the order
of the sides alternates by round), ``--clients`` clients in a closed loop for ``--seconds``
after a short warm-up. CPU per request: ``bench/fhir/cpu.py``. Output: a rich table (medians
over the rounds; the ratio ours ÷ HAPI with its range), ``bench/out/fhir-<time>.json`` (every
phase of every round). Starts its own PostgreSQL and Kafka under .local/bench-fhir-stack unless
DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS are set. ``--ours-only`` leaves HAPI out (no Java);
``--phases read,search`` runs only those; ``--profile <tag>`` keeps flame graphs of the journal's
API, or of another of our processes (``--profile-of "consent: relay and projections"``;
``bench/fhir/profile.py``); ``--statements`` what PostgreSQL spent per statement in our phases
(``bench/fhir/statements.py``); ``--client aiohttp`` sends the phases' requests with aiohttp
instead of httpx (the same requests; the client's CPU per request is in the table, so what it
took from the servers can be seen). Before the rounds, each side's idle CPU is measured and
printed.
The figures go to bench/RESULTS.md from a quiet machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter

import typer
from rich.console import Console

from bench.fhir import cpu, floor, hapi_server
from bench.fhir import report as rp
from bench.fhir import statements as st
from bench.fhir import workload as wl
from bench.fhir.ours import ours, python_roles, set_up, stack_roots
from bench.fhir.profile import UnknownRole, check_role, flame_of
from bench.servers import access_log_setting, api_workers
from bench.infra import loadavg
from bench.util import Counter, make_progress, telemetry_setting, traced_as_deployed, tracked
from libs.config import REPO_ROOT
from libs.devstack.session import test_stack
from libs.events.db import asyncpg_dsn

OUT = REPO_ROOT / "bench" / "out"
# its own folder: another benchmark starting on the shared .local/bench-stack would wipe the
# broker under a run that takes most of an hour
STACK_DIR = REPO_ROOT / ".local" / "bench-fhir-stack"
PHASE_WARMUP_S = 2.0




@contextlib.asynccontextmanager
async def _side_if(enabled: bool, started):
    """The side ``started()`` brings up, or None when the run leaves it out."""
    if not enabled:
        yield None
        return
    async with started() as side:
        yield side


async def _phase(http, side: wl.Side, procs: cpu.SideProcesses, phase: str, send,
                 clients: int, seconds: float, warmup: float, counter: Counter,
                 profile: str | None = None, profile_of: str = "journal") -> wl.PhaseResult:
    """One phase on one side, its CPU from its start until the side is idle again; with
    ``profile``, the process whose role is ``profile_of`` sampled by py-spy meanwhile
    (``profile.py``)."""
    spied = next((p for p, role in procs.roots.items() if role == profile_of), None)
    async with flame_of(spied if profile else None, phase, profile, warmup + seconds):
        res, res_cpu = await cpu.measure(procs, lambda: wl.closed_loop(
            http, side.name, phase, send, clients, seconds, warmup, counter))
    res.cpu = res_cpu
    return res


async def _warm(http, side, procs, sends, clients: int, seconds: float, progress) -> None:
    """Every phase in turn on one side for ``seconds`` (nothing counted)."""
    task = progress.add_task(f"warm-up: {side.name}", total=max(1, int(seconds)))
    t0, k = perf_counter(), 0
    while (left := seconds - (perf_counter() - t0)) > 0:
        phase = wl.PHASES[k % len(wl.PHASES)]
        await wl.closed_loop(http, side.name, phase, sends[phase], clients, min(20, left), 0)
        progress.update(task, completed=int(perf_counter() - t0))
        k += 1
    progress.update(task, completed=max(1, int(seconds)))


async def run(url: str, bootstrap: str, *, warmup: float = 180, rounds: int = 4,
              seconds: float = 30, clients: int = 16, patients: int = 16,
              phase_warmup: float = PHASE_WARMUP_S, with_hapi: bool = True,
              console: Console | None = None, out_dir: Path = OUT,
              phases: tuple[str, ...] = wl.PHASES, profile: str | None = None,
              statements: bool = False, profile_of: str = "journal",
              client: str = "httpx", with_floor: bool = True) -> dict:
    """Set up both sides, warm HAPI up, measure ``rounds`` rounds of ``phases``; print the
    table, write the JSON; returns its summary. ``profile``: a tag; the flame graph of the
    process whose role is ``profile_of`` (the journal's API by default) in each phase of the
    first round goes to ``bench/profiles/fhir-<phase>-<tag>.svg`` (that round's figures are
    left out when there are more rounds: py-spy shares the cores). ``client``: what sends the
    phases' requests (``wl.CLIENTS``); the set-up always uses httpx."""
    console = console or Console()
    if statements:   # before minutes of set-up: can this server count statements at all?
        await st.reset(asyncpg_dsn(url))
    work = Path(tempfile.mkdtemp(prefix="bench-fhir-"))
    about = {"clients": clients, "rounds": rounds, "seconds": seconds, "warmup": warmup,
             "phase_warmup": phase_warmup, "patients": patients, "phases": list(phases),
             "profile": profile, "profile of": profile_of, "statements": statements,
             "client": client, "floor": with_floor,
             "API processes per service": api_workers(),
             "access log": access_log_setting(),
             "OpenTelemetry": telemetry_setting(),
             "load average before": loadavg(), "started": datetime.now(UTC).isoformat()}
    results: list[wl.PhaseResult] = []
    t_start = perf_counter()
    with make_progress(console) as progress:
        async with _side_if(with_hapi, lambda: hapi_server.running(url, work / "hapi.log")) \
                as hapi:
            about["HAPI start s"] = round(perf_counter() - t_start, 1)
            async with _side_if(with_floor, lambda: floor.floor(url, work)) as fl, \
                    ours(url, bootstrap, work, hapi and hapi.database,
                         fl and fl.database) as o:
                sides = [(o.side, o.processes)]
                postgres = {p: r for p, r in stack_roots(url, bootstrap).items()
                            if r == cpu.POSTGRES}
                if fl is not None:
                    sides.append((fl.side, cpu.SideProcesses(
                        {fl.pid: "floor (uvicorn)"} | postgres, cpu.backend_of(fl.database))))
                if hapi is not None:
                    sides.append((wl.Side("HAPI", hapi.base), cpu.SideProcesses(
                        {hapi.pid: "HAPI (JVM)"} | postgres, cpu.backend_of(hapi.database))))
                people = wl.People()
                async with contextlib.AsyncExitStack() as clients_:
                    https, sends = {}, {}
                    for side, _ in sides:
                        http = await clients_.enter_async_context(wl.client(side, clients))
                        async with tracked(progress, f"set-up: {side.name}", patients) as n:
                            known = await set_up(http, side, people, patients, n)
                        https[side.name] = await clients_.enter_async_context(
                            wl.sender(side, clients, client, http))
                        sends[side.name] = wl.requests(side, known, people)
                    if hapi is not None and warmup > 0:
                        side, procs = sides[-1]
                        await _warm(https["HAPI"], side, procs, sends["HAPI"], clients, warmup,
                                    progress)
                    for side, procs in sides:   # what the side costs doing nothing
                        about[f"idle CPU ms per s: {side.name}"] = await cpu.idle_rate(procs)
                    task = progress.add_task("rounds: phases", total=rounds * len(phases)
                                             * len(sides))
                    for r in range(rounds):
                        spy = profile if r == 0 else None
                        for phase in phases:
                            for side, procs in (sides if r % 2 == 0 else sides[::-1]):
                                watch = statements and r == 0 and side.name == "ours"
                                if watch:
                                    await st.reset(asyncpg_dsn(url))
                                async with tracked(progress, f"round {r + 1}: {phase}, "
                                                   f"{side.name}", 0) as n:
                                    res = await _phase(
                                        https[side.name], side, procs, phase,
                                        sends[side.name][phase], clients, seconds,
                                        phase_warmup, n, spy if side.name == "ours" else None,
                                        profile_of)
                                if watch:
                                    about.setdefault("PostgreSQL statements", {})[phase] = \
                                        await st.top(asyncpg_dsn(url), res.sent)
                                if not (spy and rounds > 1):
                                    results.append(res)
                                progress.advance(task)
    about["load average after"] = loadavg()
    about["total s"] = round(perf_counter() - t_start, 1)
    console.print(rp.table(rp.summary(results), about))
    for phase, rows in about.get("PostgreSQL statements", {}).items():
        console.print(st.table(phase, rows))
    for key in (k for k in about if k.startswith("idle CPU")):
        console.print(f"{key}: {about[key]}")
    path = rp.write(out_dir, datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"), results, about)
    console.print(f"written: {path.name} in {out_dir} (the whole run took "
                  f"{about['total s'] / 60:.1f} min)")
    shutil.rmtree(work, ignore_errors=True)   # kept, with the servers' logs, on failure
    return rp.summary(results)


app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def main(warmup: float = typer.Option(180, help="seconds of HAPI's warm-up (its JIT)"),
         rounds: int = typer.Option(4, help="rounds of every phase on both sides"),
         seconds: float = typer.Option(30, help="measured seconds of each phase"),
         clients: int = typer.Option(16, help="concurrent clients (closed loop)"),
         patients: int = typer.Option(16, help="patients each side gets before the rounds"),
         ours_only: bool = typer.Option(False, help="leave HAPI out (no Java needed)"),
         phases: str = typer.Option(",".join(wl.PHASES), help="the phases, comma-separated"),
         profile: str | None = typer.Option(None, help=(
             "a tag: flame graphs of the journal's API (or of --profile-of) in the first "
             "round, bench/profiles/fhir-<phase>-<tag>.svg")),
         profile_of: str = typer.Option("journal", help=(
             "whose flame graphs --profile keeps: one of our processes' roles, as the table's "
             "CPU column names them (\"consent: relay and projections\")")),
         statements: bool = typer.Option(False, help=(
             "what PostgreSQL spent per statement in our phases of the first round "
             "(pg_stat_statements in the benchmark's own PostgreSQL)")),
         client: str = typer.Option("httpx", help=(
             "what sends the phases' requests: httpx (the issue's figures so far) or aiohttp "
             "(its parser in C: less CPU per request, more of the machine for the servers)")),
         with_floor: bool = typer.Option(True, "--floor/--no-floor", help=(
             "the floor beside the sides: the same interactions on FastAPI + asyncpg with no "
             "platform (bench/fhir/floor.py)"))
         ) -> None:
    if client not in wl.CLIENTS:
        raise typer.BadParameter(f"client: one of {', '.join(wl.CLIENTS)}")
    chosen = tuple(p.strip() for p in phases.split(",") if p.strip())
    if not chosen or set(chosen) - set(wl.PHASES):
        raise typer.BadParameter(f"phases: some of {', '.join(wl.PHASES)}")
    if profile:
        try:
            check_role(profile_of, python_roles())
        except UnknownRole as exc:
            raise typer.BadParameter(str(exc)) from None
    with traced_as_deployed(), \
            test_stack(STACK_DIR, pg_settings=st.PRELOAD if statements else ()) as handle:
        try:
            asyncio.run(run(handle.database_url, handle.kafka_bootstrap, warmup=warmup,
                            rounds=rounds, seconds=seconds, clients=clients,
                            patients=patients, with_hapi=not ours_only, phases=chosen,
                            profile=profile, statements=statements,
                            profile_of=profile_of, client=client, with_floor=with_floor))
        except st.Unavailable as exc:
            Console(stderr=True).print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None


if __name__ == "__main__":
    app()
