"""``python -m bench.welfare`` (``make bench-welfare``): welfare technology (issue 15), each
figure next to a baseline measured in the same run (``bench/welfare_load.py``):

- **ingestion**: readings/s through ``POST /ingest`` next to a raw aiokafka produce of the same
  payloads;
- **device event -> worklist**: p50 / p99 from an alarm's scheduled send to its task on the
  home-care unit's worklist, in an open loop of ``--rate`` (1,000) readings/s from
  ``--devices`` (2,000) tablets sending batches (target p99 ≤ 2 s), next to raw aiokafka
  produce -> consume at the same rate;
- **worker memory**: the faust worker's RSS over ``--minutes`` (10) of that load, with event
  time running a day's worth so the windows close and are evicted, next to the worker idle.

The worker has decided every reading of the ingestion loop before the latency loop starts (the
time it took is reported). The welfare service's CPU per reading (its API and its relay and
projections), and every process's share of the CPU, are measured through the ingestion loop;
``--profile TAG`` samples the API with py-spy
there into ``bench/profiles/welfare-ingest-<TAG>.svg``, and the worker through the latency
loop into ``bench/profiles/welfare-worker-<TAG>.svg`` (with every process's share of the CPU
there too).

Set-up (not measured): ``bench/welfare_setup.py``. Output: a rich table, the JSON document
``bench/out/welfare-<time>.json`` (every sample) and ``bench/out/welfare-<time>.svg`` (latency
and RSS over time). Starts its own PostgreSQL and Kafka under .local/bench-stack unless
DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS are set. Figures go to bench/RESULTS.md from a quiet
machine.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from bench import citizen_load as cl
from bench import citizen_profile as cp
from bench import welfare_load as wl
from bench.citizen_report import _panel
from bench.infra import loadavg, stack
from bench.util import CpuMeter, cpu_text, make_progress, tracked
from bench.welfare_setup import until_rows, welfare_stack
from libs.config import REPO_ROOT

OUT = REPO_ROOT / "bench" / "out"
TARGET_MS = 2000.0
INGEST, LATENCY, MEMORY = "ingestion", "device event -> worklist", "worker memory"
DAY_S = 24 * 3600


def rss_summary(label: str, points: list[tuple[float, float]]) -> dict:
    """Start, end, peak and the slope (MB/min, least squares over the second half)."""
    mb = [m for _, m in points]
    half = points[len(points) // 2:]
    slope = 0.0
    if len(half) >= 2:
        mt = sum(t for t, _ in half) / len(half)
        mm = sum(m for _, m in half) / len(half)
        var = sum((t - mt) ** 2 for t, _ in half)
        slope = (sum((t - mt) * (m - mm) for t, m in half) / var * 60) if var else 0.0
    return {"label": label, "samples": len(points), "start_mb": mb[0] if mb else None,
            "end_mb": mb[-1] if mb else None, "max_mb": max(mb, default=None),
            "slope_mb_per_min": slope, "points": [[round(t, 2), round(m, 2)]
                                                  for t, m in points]}


def _share(status: dict[str, int], code: str) -> str:
    return f"{status.get(code, 0) / max(1, sum(status.values())):.0%}"


def table(doc: dict) -> Table:
    t = Table("figure", "side", "what", "n", "value", "target", title="welfare",
              caption="each figure next to its baseline, measured in the same run")
    for f in doc["figures"]:
        for side in ("measured", "baseline"):
            x = f[side]
            if f["what"] == INGEST:
                n, value = x["readings"], f"{x['readings_per_s']:,.0f} readings/s"
                if x.get("cpu_ms_per_reading"):
                    value += f", service CPU {x['cpu_ms_per_reading']:,.2f} ms/reading"
            elif f["what"] == LATENCY:
                n, value = x["samples"], f"p50 {x['p50_ms']:,.1f} / p99 {x['p99_ms']:,.1f} ms"
                if "alarm_status" in x:   # how many were told to come back (429)
                    value += (f"; 429 to {_share(x['status'], '429')} of the batches, "
                              f"{_share(x['alarm_status'], '429')} of those with an alarm")
            else:
                n, value = x["samples"], (f"{x['start_mb']:.0f} -> {x['end_mb']:.0f} MB, max "
                                          f"{x['max_mb']:.0f}, {x['slope_mb_per_min']:+.2f} "
                                          "MB/min")
            goal = f"p99 ≤ {f['target_p99_ms']:,.0f} ms" if f.get("target_p99_ms") else ""
            t.add_row(f["what"] if side == "measured" else "", side, x["label"], str(n), value,
                      goal if side == "measured" else "")
    return t


def svg(latency: cl.Series, baseline: cl.Series, rss: list, idle: list) -> str:
    as_series = [cl.Series(label, 0, [(t, m / 1000) for t, m in pts])
                 for label, pts in (("worker RSS under load (MB)", rss),
                                    ("worker RSS idle (MB)", idle))]
    body = [*_panel(LATENCY, (latency, baseline), 0),
            *_panel(f"{MEMORY} (the axis reads MB as ms)", tuple(as_series), 240)]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="760" height="480" '
            f'font-family="sans-serif" font-size="11" role="img">'
            f"<title>{escape('Welfare: alarm to worklist latency and worker RSS over time')}"
            f'</title><rect width="100%" height="100%" fill="white"/>{"".join(body)}</svg>')


async def run(url: str, bootstrap: str, *, rate: float = 1000, devices: int = 2000,
              people: int = 40, minutes: float = 10, batch: int = 10, ingest_s: float = 20,
              clients: int = 16, idle_s: float = 10, console: Console | None = None,
              out_dir: Path = OUT, profile: str | None = None) -> dict:
    """Set up, measure every figure and its baseline, print and write them; returns the
    document written to ``out_dir``."""
    console = console or Console()
    seconds = minutes * 60
    about = {"load average before": loadavg(), "rate": rate, "devices": devices,
             "people": people, "minutes": minutes, "batch": batch, "ingest_s": ingest_s,
             "gateways": clients, "event time speed": DAY_S / seconds}
    with make_progress(console) as progress:
        async with welfare_stack(url, bootstrap, people, devices, progress) as c:
            async with tracked(progress, "worker idle (RSS)", int(idle_s)) as n:
                idle = await wl.idle_rss(c, idle_s)
                n.n = int(idle_s)
            api_pid, pids = c.servers["welfare"].pid, list(c.servers["welfare"].roles())
            async with tracked(progress, "ingestion: POST /ingest", 0) as n:
                cpu0, meter = sum(map(cp.tree_cpu_s, pids)), CpuMeter(c.roles())
                async with cp.flame(api_pid, "ingest", profile, ingest_s, kind="welfare"):
                    api = await wl.ingestion(c, ingest_s, batch, clients, n)
                api.cpu_s = sum(map(cp.tree_cpu_s, pids)) - cpu0
                about["CPU during ingestion"] = cpu_text(meter.stop())
            # the worker decides what the loop left queued before anything else is measured,
            # so the latency loop starts on an empty pipeline
            async with tracked(progress, "ingestion: the worker catching up", 0):
                about["worker caught up after the ingestion loop (s)"] = round(await until_rows(
                    url, c.schema, "welfare_rules_done", api.readings,
                    "the worker deciding every reading taken", 0.1), 2)
            async with tracked(progress, "ingestion baseline: raw aiokafka", 0) as n:
                raw = await wl.raw_produce(c, bootstrap, ingest_s, batch, clients, n)
            rss: list[tuple[float, float]] = []
            async with tracked(progress, "device event -> worklist", int(rate * seconds)) as n:
                meter = CpuMeter(c.roles())
                async with cp.flame(c.worker_pid, "worker", profile, seconds, kind="welfare"):
                    lat = await wl.latency(c, rate, seconds, batch, DAY_S / seconds, n, rss)
                about["CPU during the latency loop"] = cpu_text(meter.stop())
            async with tracked(progress, "baseline: raw produce -> consume",
                               int(rate * min(seconds, 60))) as n:
                base = await cl.kafka_baseline(bootstrap, c.topics["raw"], rate,
                                               min(seconds, 60), n)
    about["load average after"] = loadavg()
    doc = {"about": about, "figures": [
        {"what": INGEST, "measured": api.as_json(), "baseline": raw.as_json()},
        {"what": LATENCY, "measured": lat.as_json(), "baseline": base.as_json(),
         "target_p99_ms": TARGET_MS},
        {"what": MEMORY, "measured": rss_summary("faust worker under load", rss),
         "baseline": rss_summary("the same worker idle, before the load", idle)}]}
    console.print(table(doc))
    console.print("where the alarms' time went, p50 / p90 / max ms: " + "; ".join(
        f"{name} {x['p50']:,.0f} / {x['p90']:,.0f} / {x['max']:,.0f}"
        for name, x in lat.stages.items()))
    console.print(f"CPU during ingestion: {about['CPU during ingestion']}; the worker caught up "
                  f"{about['worker caught up after the ingestion loop (s)']} s after the loop; "
                  f"CPU during the latency loop: {about['CPU during the latency loop']}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir.mkdir(parents=True, exist_ok=True)
    js, pic = out_dir / f"welfare-{stamp}.json", out_dir / f"welfare-{stamp}.svg"
    js.write_text(json.dumps(doc, indent=1, ensure_ascii=False))
    pic.write_text(svg(lat, base, rss, idle))
    console.print(f"written: {js.name} and {pic.name} in {out_dir}")
    return doc


app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def main(rate: float = typer.Option(1000, help="offered readings/s of the latency loop"),
         devices: int = typer.Option(2000, help="simulated tablets"),
         people: int = typer.Option(40, help="people the tablets are spread over"),
         minutes: float = typer.Option(10, help="minutes of the latency and memory run"),
         batch: int = typer.Option(10, help="readings per request (a device's batch)"),
         ingest_seconds: float = typer.Option(20, help="seconds of each ingestion loop"),
         gateways: int = typer.Option(16, help="concurrent senders of the ingestion loop"),
         profile: str = typer.Option("", help="a tag: flame graphs of the API through the "
                                              "ingestion loop and of the worker through the "
                                              "latency loop to bench/profiles/welfare-"
                                              "{ingest,worker}-<tag>.svg"),
         ) -> None:
    import asyncio

    with stack() as handle:
        asyncio.run(run(handle.database_url, handle.kafka_bootstrap, rate=rate,
                        devices=devices, people=people, minutes=minutes, batch=batch,
                        ingest_s=ingest_seconds, clients=gateways, profile=profile or None))


if __name__ == "__main__":
    app()
