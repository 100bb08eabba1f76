"""The welfare benchmark run (``python -m bench.welfare``), tiny: four tablets of two people, 20
readings/s for a few seconds. Every figure and its baseline must be measured (readings taken,
every alarm's task seen on the worklist, every Kafka record consumed, the worker's RSS sampled)
and written to the JSON and the plot, so a broken bench is found by ``make test`` and not on
the quiet machine. No timing is asserted."""

from __future__ import annotations

import json

from rich.console import Console

from bench.welfare import INGEST, LATENCY, MEMORY, run
from bench.welfare_load import STAGES

FIGURES = [INGEST, LATENCY, MEMORY]


async def test_the_welfare_benchmark_measures_every_figure_and_its_baseline(
        database_url, kafka_bootstrap, tmp_path):
    console = Console(record=True, width=220)
    doc = await run(database_url, kafka_bootstrap, rate=20, devices=4, people=2, minutes=0.1,
                    batch=5, ingest_s=2, clients=2, idle_s=2, console=console,
                    out_dir=tmp_path)
    assert [f["what"] for f in doc["figures"]] == FIGURES
    ingest, latency, memory = doc["figures"]
    for side in ("measured", "baseline"):
        x = ingest[side]
        assert x["readings"] > 0 and x["readings_per_s"] > 0, (side, x)
        assert set(x["status"]) == {"201" if side == "measured" else "200"}, (side, x)
    # the service's CPU per reading, and every process's share while the loop ran: the welfare
    # service as deployed, its API and its relay and projections apart
    assert ingest["measured"]["cpu_ms_per_reading"] > 0
    assert "welfare: relay and projections" in doc["about"]["CPU during ingestion"]
    sent = latency["measured"]
    assert sent["status"] == {"201": 24}   # 20/s × 6 s in batches of 5
    assert sent["alarm_status"] == {"201": 6}   # one alarm a second, each in its batch
    assert sent["resolved_status"] == {"200": 6}   # the nurse resolved each one she saw
    # where each alarm's time went, stage by stage, for every alarm seen on the worklist
    assert list(sent["stages"]) == list(STAGES)
    assert all(x["n"] == 6 and x["p50"] <= x["p90"] <= x["max"] for x in sent["stages"].values()), \
        sent["stages"]
    assert sent["samples"] == 6 and 0 < sent["p50_ms"] <= sent["p99_ms"]   # one alarm a second
    assert latency["baseline"]["samples"] == 120 and latency["target_p99_ms"] == 2000
    for side in ("measured", "baseline"):
        assert memory[side]["samples"] >= 2 and memory[side]["max_mb"] > 0, side
    written = json.loads(next(tmp_path.glob("welfare-*.json")).read_text())
    assert [f["what"] for f in written["figures"]] == FIGURES
    assert next(tmp_path.glob("welfare-*.svg")).read_text().count("<polyline") == 4
    text = console.export_text()
    assert all(what in text for what in FIGURES)
    assert "where the alarms' time went" in text
    assert text.count("│ measured │") == text.count("│ baseline │") == 3
