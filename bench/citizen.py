"""``python -m bench.citizen`` (``make bench-citizen``): the citizen portal (issue 13), each
figure next to a baseline measured in the same run.

- **pages**: the signed-in "my record" (``/record``) and "my medicines" (``/medicines``) pages
  of the citizen service, p50 / p99 in an open loop at ``--rate`` (100) pages/s (latency from
  each request's due time, so queueing shows), next to a raw FastAPI page rendering the same
  rows from the same read-model tables (``bench/citizen_servers.py``);
- **freshness**: a clinician's read of the journal -> the entry in the citizen service's
  "who looked at my record" read model, p50 / p99 at ``--fresh-rate`` (50) reads/s (target:
  p99 ≤ 2 s), next to raw aiokafka produce -> consume at the same rate on a topic configured as
  the run's ``audit.access`` (``bench/citizen_load.py``).

Set-up (not measured): ``bench/citizen_setup.py``. Every server runs in its own process; the
load generator in this one. Output: a rich table, ``bench/out/citizen-<time>.json`` (every
sample) and ``bench/out/citizen-<time>.svg`` (latency over time). Starts its own PostgreSQL and
Kafka under .local/bench-stack unless DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS are set. The
figures go to bench/RESULTS.md from a quiet machine.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console

from bench import citizen_load as cl
from bench import citizen_profile as cp
from bench import citizen_report as cr
from bench.citizen_setup import GP_HPR, citizens
from bench.infra import loadavg, stack
from bench.util import make_progress, tracked
from libs.config import REPO_ROOT

OUT = REPO_ROOT / "bench" / "out"
FRESH_TARGET_MS = 2000.0
PAGES = (("my record", "/record", "/raw/record"), ("my medicines", "/medicines",
                                                      "/raw/medicines"))
FRESHNESS = "who looked: freshness"


async def run(url: str, bootstrap: str, *, rate: float = 100, fresh_rate: float = 50,
              seconds: float = 20, warmup: float = 2, patients: int = 20,
              console: Console | None = None, out_dir: Path = OUT,
              profile: str | None = None, workers: int = 1) -> dict:
    """Set up, measure every figure and its baseline, print and write them; returns the
    document written to ``out_dir``."""
    console = console or Console()
    about = {"load average before": loadavg(), "patients": patients, "rate": rate,
             "fresh_rate": fresh_rate, "seconds": seconds, "warmup": warmup,
             "citizen API workers": workers}
    pairs: list[tuple[str, cl.Series, cl.Series]] = []
    with make_progress(console) as progress:
        async with citizens(url, bootstrap, patients, progress, workers) as c:
            for what, path, raw in PAGES:
                got = []
                for label, port, send in (
                        (f"portal {path} (signed in)", c.ports["citizen"],
                         cl.page(path, c.patients, c.cookies)),
                        (f"raw FastAPI {raw}/{{id}}", c.ports["raw"],
                         cl.raw_page(raw, c.patients))):
                    portal = port == c.ports["citizen"]
                    cpu0 = cp.tree_cpu_s(c.servers["citizen"].pid)
                    async with tracked(progress, f"{what}: {label}",
                                       int(rate * (seconds + warmup))) as n, \
                            cp.flame(c.servers["citizen"].pid, what,
                                     profile if portal else None, seconds + warmup):
                        s = await cl.open_loop(port, label, send, rate, seconds, warmup, n)
                    if portal:   # every page sent, the warm-up's too, was served by then
                        about[f"{what}: citizen API CPU ms per page"] = round(
                            (cp.tree_cpu_s(c.servers["citizen"].pid) - cpu0) * 1000
                            / int(rate * (seconds + warmup)), 2)
                    got.append(s)
                    await asyncio.sleep(1)  # the server's log writer catches up
                pairs.append((f"{what} page", *got))
            total = int(fresh_rate * seconds)
            async with tracked(progress, "freshness: journal reads", total) as n:
                fresh = await cl.freshness(c.ports["journal"], c.gp, GP_HPR, c.patients,
                                           c.engine, fresh_rate, seconds, n)
            raw_topic = await c.res.topic(f"{c.topics['audit.access']}.raw")
            async with tracked(progress, "freshness baseline: raw Kafka", total) as n:
                kafka = await cl.kafka_baseline(bootstrap, raw_topic, fresh_rate, seconds, n)
            pairs.append((FRESHNESS, fresh, kafka))
    about["load average after"] = loadavg()
    target = {FRESHNESS: FRESH_TARGET_MS}
    console.print(cr.table(pairs, target))
    console.print({k: v for k, v in about.items() if "CPU" in k})
    doc = cr.document(pairs, target, about)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    js, pic = cr.write(out_dir, stamp, doc, cr.svg(pairs))
    console.print(f"written: {js.name} and {pic.name} in {out_dir}")
    return doc


app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def main(rate: float = typer.Option(100, help="offered pages/s of each page's open loop"),
         fresh_rate: float = typer.Option(50, help="clinician reads/s of the freshness loop"),
         seconds: float = typer.Option(20, help="measured seconds of each loop"),
         patients: int = typer.Option(20, help="patients (each with a portal session)"),
         profile: str = typer.Option("", help="a tag: flame graphs of the portal's pages "
                                              "to bench/profiles/citizen-<page>-<tag>.svg"),
         workers: int = typer.Option(1, help="the citizen API's uvicorn processes")) -> None:
    with stack() as handle:
        asyncio.run(run(handle.database_url, handle.kafka_bootstrap, rate=rate,
                        fresh_rate=fresh_rate, seconds=seconds, patients=patients,
                        profile=profile or None, workers=workers))


if __name__ == "__main__":
    app()
