"""The results table (rich on the terminal, Markdown in bench/RESULTS.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

MARKER = "<!-- bench:runs — `make bench` inserts each new run below this line, newest first -->"

HEADER = f"""# Benchmark results

`make bench` (``.venv/bin/python -m bench``, options: ``--help``) measures the event backbone on
this machine. Every figure is printed next to a **baseline** measured in the same run, on the
same servers, doing the same work with the raw drivers (asyncpg, aiokafka) and none of the
library code; *ratio* is figure ÷ baseline.

| row | what it measures | baseline |
| --- | --- | --- |
| **append events/s**, **p50 / p99 ms** | `EventStore.append`, one event per append (each its own transaction), 8 concurrent writers, 10 events per stream over N/10 streams (the first append creates the stream, the others expect its version). Rate = N ÷ wall time; latency = one `append` call. | raw asyncpg on 8 connections, the same commit: claim the stream row (the same `INSERT … ON CONFLICT DO NOTHING` / `UPDATE … WHERE version = expected`), insert the event row (same columns, the same envelope JSON built with `json`), insert the outbox row, `NOTIFY`, commit. |
| **relay events/s** | `OutboxRelay.run()` on an outbox pre-filled with the N appended events: time from `run()` until `stats.published == N` (includes connecting and starting its producer). Batch 500. | raw aiokafka producer with the relay's settings (idempotent, `acks=all`, linger 5 ms, 256 KiB batches), the same keys and values (read from the outbox before the clock starts), `send()` 500 then await their futures. |
| **replay events/s** | `replay(ProjectionRunner(BenchProjection))` rebuilding a read model (one row per event, `apply_batch` = one bulk `INSERT … unnest`) from the N events on the topic (12 partitions); batch 500; includes reset and consumer start. | raw aiokafka consumer with the runner's settings, batch 500, `json.loads` and `copy_records_to_table` into a table of the same shape, one transaction per batch; no dedupe, no positions. |
| **lag: load sustained** | the rate the writer actually achieved in the lag run below (offered: 500 events/s). If it falls short, the pipeline cannot carry the offered load on this machine and the lag target counts as missed. | the baseline pipeline's achieved rate. |
| **lag p50 / p99 / max commit→visible** | end-to-end: `append` returned → the projection's batch transaction holding the event committed, at a fixed open-loop offered load (event *i* due at *t0 + i/rate*, up to 8 appends in flight), 20 s measured after a 2 s warm-up that is not counted. The relay and the projection runner each run in **their own process** (`bench.workers`), as deployed (on 2 cores, one event loop for all three would measure the GIL, not the pipeline); the writer runs in the benchmark process. Measured at the smallest size only, at 500 events/s (the target) and at 250 events/s (information). The notes split it at the Kafka record's CreateTime (ms resolution) into commit→send, send→received and received→applied, and give each process's CPU. | the floor without an outbox: the same raw asyncpg commit, then the writer itself produces the event (a dual write), and a raw consumer process (same fetch settings) copies each batch into the table. |
| **lag p99 due→visible** | the same events, measured from the time they were *due* on the schedule: it includes the time an event waited because the writer was behind (commit→visible alone hides that). | the same for the baseline. |

Targets (from the issue): append ≥ 70 % of its baseline; replay ≥ 50 % of its baseline and
≥ 10,000 events/s; lag p99 ≤ 250 ms at 500 events/s. Rows without a target are for reading
the growth of cost with size. Each size uses fresh schemas and its own topics; the numbers are
one run each, on a 2-core machine where PostgreSQL, Kafka and Python share the cores: repeated
runs moved by up to ±20 %, so read ratios near a target with that in mind.

{MARKER}
"""


@dataclass
class Row:
    size: str
    figure: str
    value: float | None
    baseline: float | None
    unit: str  # "ev/s" or "ms"
    target: str = "—"
    passed: bool | None = None
    note: str = ""

    def fmt(self, v: float | None) -> str:
        if v is None:
            return "—"
        if self.unit == "ev/s":
            return f"{v:,.0f} ev/s"
        return f"{v:,.1f} ms"

    @property
    def ratio(self) -> str:
        if self.value is None or not self.baseline:
            return "—"
        if self.unit == "ev/s":
            return f"{self.value / self.baseline * 100:.0f} %"
        return f"×{self.value / self.baseline:.2f}"

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "—"}[self.passed]


def rich_table(rows: list[Row], title: str) -> Table:
    t = Table(title=title)
    for col in ("size", "figure", "measured", "baseline", "ratio", "target", "result"):
        t.add_column(col, justify="right" if col in ("measured", "baseline", "ratio") else "left")
    for r in rows:
        style = {True: "green", False: "bold red", None: ""}[r.passed]
        t.add_row(r.size, r.figure, r.fmt(r.value), r.fmt(r.baseline), r.ratio, r.target,
                  f"[{style}]{r.verdict}[/]" if style else r.verdict)
    return t


def markdown_table(rows: list[Row]) -> str:
    lines = ["| size | figure | measured | baseline | ratio | target | result |",
             "| ---: | --- | ---: | ---: | ---: | --- | --- |"]
    for r in rows:
        verdict = f"**{r.verdict}**" if r.passed is False else r.verdict
        lines.append(f"| {r.size} | {r.figure} | {r.fmt(r.value)} | {r.fmt(r.baseline)} | "
                     f"{r.ratio} | {r.target} | {verdict} |")
    return "\n".join(lines)


def write_results(path: Path, machine: dict[str, str], settings: dict[str, str],
                  rows: list[Row], notes: list[str]) -> None:
    section = [f"## Run of {machine.get('date', '?')}", "", "| machine | |", "| --- | --- |"]
    section += [f"| {k} | {v} |" for k, v in machine.items() if k != "date"]
    section += ["", "Settings: " + "; ".join(f"{k} {v}" for k, v in settings.items()), "",
                markdown_table(rows), ""]
    if notes:
        section += ["Notes:", ""] + [f"* {n}" for n in notes] + [""]
    text = "\n".join(section) + "\n"
    if path.exists():
        old = path.read_text()
        if MARKER in old:
            head, tail = old.split(MARKER, 1)
            new = head + MARKER + "\n\n" + text + tail.lstrip("\n")
        else:
            new = old.rstrip("\n") + "\n\n" + MARKER + "\n\n" + text
    else:
        new = HEADER + "\n" + text
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)
