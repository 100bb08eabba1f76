"""``python -m bench.registry``: the registry export (issue 14), each figure next to a
baseline measured in the same run.

- **stream**: the faust worker folding the journal events of ``--events``-ish persons' worth
  (12 partitions) until every part is committed in PostgreSQL, next to a raw aiokafka consumer doing
  the same decoding and folding (``bench/registry_stream.py``; target: at least 50 %);
- **lag**: from a committed service decision (acknowledged by Kafka) to the parts every
  statistics request reads, p50 / p99 at ``--lag-rate`` (200) events/s, next to a raw aiokafka
  consumer of the same topic (``bench/registry_lag.py``);
- **batch**: the KPR extract and a research release for each of ``--persons`` (10k and 100k),
  wall time and peak Python memory, next to writing the same data plain
  (``bench/registry_batch.py``).

Starts its own PostgreSQL and Kafka under .local/bench-stack (unless DATABASE_URL /
KAFKA_BOOTSTRAP_SERVERS are set) and prints a table; the figures go to bench/RESULTS.md from a quiet machine.
"""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from rich.table import Table

from bench import registry_batch as rb
from bench import registry_lag as rl
from bench import registry_stream as rs
from bench.infra import PARTITIONS, loadavg, stack, unique

app = typer.Typer(add_completion=False, help=__doc__)
STREAM_TARGET = 0.5


def stream_table(rates: list[rs.Rate]) -> Table:
    table = Table("stream", "events", "seconds", "events/s", "vs raw", "with start, s",
                  title="registry stream")
    base = rates[0].per_s or 1.0
    for r in rates:
        table.add_row(r.label, str(r.events), f"{r.seconds:.2f}", f"{r.per_s:,.0f}",
                      f"{r.per_s / base:.0%}", f"{r.total_s:.2f}")
    return table


def lag_table(lags: list[rl.Lag], rate: float) -> Table:
    table = Table("lag", "decisions", "p50 ms", "p99 ms", title=f"registry lag at {rate:g}/s")
    for r in lags:
        table.add_row(r.label, str(r.samples), f"{r.p50_ms:.0f}", f"{r.p99_ms:.0f}")
    return table


def batch_table(results: dict[int, list[rb.Measured]]) -> Table:
    table = Table("persons", "work", "seconds", "peak MB", title="registry batch")
    for n, rows in results.items():
        for m in rows:
            table.add_row(f"{n:,}", m.label, f"{m.seconds:.2f}", f"{m.peak_mb:,.1f}")
    return table


def batch(sizes: list[int]) -> dict[int, list[rb.Measured]]:
    out = {}
    for n in sizes:
        persons, ids = rb.people(n)
        out[n] = rb.kpr(persons, ids) + rb.release(persons, ids)
    return out


@app.command()
def main(persons: str = typer.Option("10000,100000", help="batch sizes, comma-separated"),
         stream_persons: int = typer.Option(5000, help="persons whose journal events the "
                                                       "stream benchmark folds"),
         lag_rate: float = typer.Option(200, help="offered events/s of the lag benchmark"),
         lag_seconds: float = typer.Option(20, help="measured seconds of the lag benchmark"),
         skip_stream: bool = typer.Option(False, help="do not run the stream and lag "
                                                      "benchmarks")) -> None:
    console = Console()
    console.print(f"load average before: {loadavg()}")
    if not skip_stream:
        with stack() as handle:
            rates = asyncio.run(rs.run(handle.kafka_bootstrap, handle.database_url,
                                       stream_persons, PARTITIONS, unique()))
            console.print(stream_table(rates))
            ratio = rates[1].per_s / (rates[0].per_s or 1.0)
            console.print(f"worker / raw: {ratio:.0%} (target {STREAM_TARGET:.0%})")
            lags = asyncio.run(rl.run(handle.kafka_bootstrap, handle.database_url, rate=lag_rate,
                                      seconds=lag_seconds, partitions=PARTITIONS,
                                      suffix=unique()))
        console.print(lag_table(lags, lag_rate))
    for n in (int(s) for s in persons.split(",") if s.strip()):
        console.print(batch_table(batch([n])))   # each size as soon as it is measured
    console.print(f"load average after: {loadavg()}")


if __name__ == "__main__":
    app()
