"""The citizen benchmark run (``python -m bench.citizen``), tiny: two patients, a few pages and
reads a second for a few seconds. Every figure and its baseline must be measured on every
request sent (all answered 200, every read's entry seen in the citizen's read model, every
Kafka record consumed) and written to the JSON and the plot, so a broken bench is found by
``make test`` and not on the quiet machine. No timing is asserted."""

from __future__ import annotations

import json

from rich.console import Console

from bench.citizen import FRESHNESS, run

FIGURES = ["my record page", "my medicines page", FRESHNESS]


async def test_the_citizen_benchmark_measures_every_figure_and_its_baseline(
        database_url, kafka_bootstrap, tmp_path):
    console = Console(record=True, width=200)
    doc = await run(database_url, kafka_bootstrap, rate=8, fresh_rate=6, seconds=2, warmup=0.5,
                    patients=2, console=console, out_dir=tmp_path)
    assert [f["what"] for f in doc["figures"]] == FIGURES
    for f in doc["figures"]:
        for side, sent in (("measured", f["measured"]), ("baseline", f["baseline"])):
            expected = int(sent["rate"] * 2)
            assert sent["samples"] == expected, (f["what"], side, sent["samples"])
            assert sent["status"] == {"200": expected}, (f["what"], side, sent["status"])
            assert 0 < sent["p50_ms"] <= sent["p99_ms"] <= sent["max_ms"], (f["what"], side)
    assert doc["figures"][2]["target_p99_ms"] == 2000
    written = json.loads(next(tmp_path.glob("citizen-*.json")).read_text())
    assert [f["what"] for f in written["figures"]] == FIGURES
    picture = next(tmp_path.glob("citizen-*.svg")).read_text()
    assert picture.count("<polyline") == 2 * len(FIGURES)
    text = console.export_text()
    assert all(what in text for what in FIGURES)
    assert text.count("│ measured │") == text.count("│ baseline │") == len(FIGURES)
