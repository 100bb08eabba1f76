"""The workspace benchmark (``python -m bench.workspace``), tiny: one load of each screen, cold
and warm, on the workspace of the browser tests' round and on the bare FastAPI baseline from
the same read models. Every figure and its baseline must be measured (a time to usable and the
bytes by type) and written to the JSON and the table, so a broken bench is found by
``make test`` and not on the quiet machine. No timing is asserted."""

from __future__ import annotations

import json

from rich.console import Console

from bench.workspace import measure
from bench.workspace_raw import raw_app
from tests.journal.conftest import HOME_CARE
from tests.support.browser import served
from tests.workspace.conftest import Round

FIGURES = ["worklist, cold", "worklist, warm", "patient overview, cold",
           "patient overview, warm"]


async def test_the_workspace_benchmark_measures_every_figure_and_its_baseline(
        day: Round, database_url, unique, tmp_path):
    raw = raw_app(database_url, f"t_{unique}_journal", f"t_{unique}_medication")
    console = Console(record=True, width=220)
    async with raw.router.lifespan_context(raw), served(raw) as raw_url:
        doc = await measure(day.url, raw_url, day.patient_id, HOME_CARE, repeats=1,
                            console=console, out_dir=tmp_path)
    assert [f["what"] for f in doc["figures"]] == FIGURES
    for f in doc["figures"]:
        for side in ("measured", "baseline"):
            s = f[side]
            assert s["samples"] == 1 and len(s["usable_ms"]) == 1, (f["what"], side)
            assert 0 < s["p50_ms"] == s["min_ms"] == s["max_ms"], (f["what"], side)
            assert set(s["bytes_by_type"]) >= ({"Document"} if f["load"] == "cold" else set())
            assert s["bytes_total"] == sum(s["bytes_by_type"].values())
        # the page comes over the network each time (warm: fetched by the service worker,
        # network first, and counted as its "Fetch"); the stylesheet only when cold
        by_type = f["measured"]["bytes_by_type"]
        assert by_type.get("Document" if f["load"] == "cold" else "Fetch", 0) > 0, f
        assert f["baseline"]["bytes_by_type"]["Document"] > 0, f
        if f["load"] == "cold":
            assert f["measured"]["bytes_by_type"].get("Stylesheet", 0) > 0, f
    written = json.loads(next(tmp_path.glob("workspace-*.json")).read_text())
    assert [f["what"] for f in written["figures"]] == FIGURES
    text = console.export_text()
    assert all(what in text for what in FIGURES)
    assert text.count("│ workspace ") == text.count("│ bare FastAPI ") == len(FIGURES)
