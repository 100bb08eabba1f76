"""The workspace benchmark's figures (``bench/workspace.py``): a summary per screen, load and
side, the rich table, and the JSON written to ``bench/out/``."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from rich.table import Table

SIDES = (("measured", "workspace"), ("baseline", "bare FastAPI"))


def summary(samples: list[dict]) -> dict:
    """Time to usable (median, min, max, every sample) and the median bytes by type."""
    times = [s["usable_ms"] for s in samples]
    kinds = sorted({k for s in samples for k in s["bytes"]})
    by_type = {k: int(statistics.median(s["bytes"].get(k, 0) for s in samples))
               for k in kinds}
    return {"samples": len(samples), "usable_ms": times,
            "p50_ms": round(statistics.median(times), 1), "min_ms": min(times),
            "max_ms": max(times), "bytes_by_type": by_type,
            "bytes_total": sum(by_type.values())}


def document(results: dict, screens: list[str], loads: tuple[str, ...], about: dict) -> dict:
    figures = []
    for screen in screens:
        for load in loads:
            figures.append({"what": f"{screen}, {load}", "screen": screen, "load": load} | {
                key: summary(results[(screen, load, side)]) for key, side in SIDES})
    return {"about": about, "figures": figures}


def _weight(by_type: dict[str, int]) -> str:
    return ", ".join(f"{k} {v / 1024:.1f}" for k, v in by_type.items() if v) or "0"


def table(doc: dict) -> Table:
    t = Table(title="Clinician workspace in Chromium, Slow 4G (ms from navigation start; "
                    "kB transferred)")
    for col in ("screen, load", "side", "usable p50", "min", "max", "kB total", "kB by type"):
        t.add_column(col, justify="left" if col in ("screen, load", "side", "kB by type")
                     else "right")
    for f in doc["figures"]:
        for key, side in SIDES:
            s = f[key]
            t.add_row(f["what"], side, f"{s['p50_ms']:.0f}", f"{s['min_ms']:.0f}",
                      f"{s['max_ms']:.0f}", f"{s['bytes_total'] / 1024:.1f}",
                      _weight(s["bytes_by_type"]))
    return t


def write(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc, indent=2))
    return path
