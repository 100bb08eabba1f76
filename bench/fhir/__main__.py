"""``python -m bench.fhir`` (``make bench-fhir``): the record's FHIR API against the HAPI FHIR
JPA server 8.8 on the same machine, the same client and workload (``bench/fhir/workload.py``)
for both (issues 17 and 19).

- **ours**: the consent service, the journal and the medication service as deployed, behind
  the one FHIR base (nginx), as a home-care nurse (``bench/fhir/ours.py``);
- **HAPI**: our small Spring Boot app around HAPI's JPA server (``bench/fhir/hapi``), heap
  2 GB, on the same PostgreSQL server in its own database (``bench/fhir/hapi_server.py``).

Each side first gets ``--patients`` transactions (its patients and Observations to read and
search), then HAPI is warmed up for ``--warmup`` seconds (its JIT keeps improving for minutes);
then ``--rounds`` rounds, each running every phase on both sides one after the other (the order
of the sides alternates by round), ``--clients`` clients in a closed loop for ``--seconds``
after a short warm-up. CPU per request: ``bench/fhir/cpu.py``. Output: a rich table (medians
over the rounds; the ratio ours ÷ HAPI with its range), ``bench/out/fhir-<time>.json`` (every
phase of every round). Starts its own PostgreSQL and Kafka under .local/bench-fhir-stack unless
DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS are set. ``--ours-only`` leaves HAPI out (no Java).
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

from bench.fhir import cpu, hapi_server
from bench.fhir import report as rp
from bench.fhir import workload as wl
from bench.fhir.ours import ours, set_up, stack_roots
from bench.infra import loadavg
from bench.util import Counter, make_progress, tracked
from libs.config import REPO_ROOT
from libs.devstack.session import test_stack

OUT = REPO_ROOT / "bench" / "out"
# its own folder: another benchmark starting on the shared .local/bench-stack would wipe the
# broker under a run that takes most of an hour
STACK_DIR = REPO_ROOT / ".local" / "bench-fhir-stack"
PHASE_WARMUP_S = 2.0




@contextlib.asynccontextmanager
async def _hapi(url: str, work: Path, enabled: bool):
    if not enabled:
        yield None
        return
    async with hapi_server.running(url, work / "hapi.log") as h:
        yield h


async def _phase(http, side: wl.Side, procs: cpu.SideProcesses, phase: str, send,
                 clients: int, seconds: float, warmup: float, counter: Counter
                 ) -> wl.PhaseResult:
    """One phase on one side, its CPU from its start until the side is idle again."""
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
              console: Console | None = None, out_dir: Path = OUT) -> dict:
    """Set up both sides, warm HAPI up, measure ``rounds`` rounds; print the table, write
    the JSON; returns its summary."""
    console = console or Console()
    work = Path(tempfile.mkdtemp(prefix="bench-fhir-"))
    about = {"clients": clients, "rounds": rounds, "seconds": seconds, "warmup": warmup,
             "phase_warmup": phase_warmup, "patients": patients,
             "load average before": loadavg(), "started": datetime.now(UTC).isoformat()}
    results: list[wl.PhaseResult] = []
    t_start = perf_counter()
    with make_progress(console) as progress:
        async with _hapi(url, work, with_hapi) as hapi:
            about["HAPI start s"] = round(perf_counter() - t_start, 1)
            async with ours(url, bootstrap, work, hapi and hapi.database) as o:
                sides = [(o.side, o.processes)]
                if hapi is not None:
                    sides.append((wl.Side("HAPI", hapi.base), cpu.SideProcesses(
                        {hapi.pid: "HAPI (JVM)"} | {p: r for p, r in stack_roots(
                            url, bootstrap).items() if r == cpu.POSTGRES},
                        cpu.hapi_backend(hapi.database))))
                people = wl.People()
                async with contextlib.AsyncExitStack() as clients_:
                    https, sends = {}, {}
                    for side, _ in sides:
                        http = await clients_.enter_async_context(wl.client(side, clients))
                        async with tracked(progress, f"set-up: {side.name}", patients) as n:
                            known = await set_up(http, side, people, patients, n)
                        https[side.name] = http
                        sends[side.name] = wl.requests(side, known, people)
                    if hapi is not None and warmup > 0:
                        side, procs = sides[1]
                        await _warm(https["HAPI"], side, procs, sends["HAPI"], clients, warmup,
                                    progress)
                    task = progress.add_task("rounds: phases", total=rounds * len(wl.PHASES)
                                             * len(sides))
                    for r in range(rounds):
                        for phase in wl.PHASES:
                            for side, procs in (sides if r % 2 == 0 else sides[::-1]):
                                async with tracked(progress, f"round {r + 1}: {phase}, "
                                                   f"{side.name}", 0) as n:
                                    results.append(await _phase(
                                        https[side.name], side, procs, phase,
                                        sends[side.name][phase], clients, seconds,
                                        phase_warmup, n))
                                progress.advance(task)
    about["load average after"] = loadavg()
    about["total s"] = round(perf_counter() - t_start, 1)
    console.print(rp.table(rp.summary(results), about))
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
         ours_only: bool = typer.Option(False, help="leave HAPI out (no Java needed)")) -> None:
    with test_stack(STACK_DIR) as handle:
        asyncio.run(run(handle.database_url, handle.kafka_bootstrap, warmup=warmup,
                        rounds=rounds, seconds=seconds, clients=clients, patients=patients,
                        with_hapi=not ours_only))


if __name__ == "__main__":
    app()
