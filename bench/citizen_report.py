"""The citizen benchmark's output: a rich table (each figure next to its baseline), the JSON
document in ``bench/out/`` and a small SVG of latency over time (no plotting library: the
project has none)."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from rich.table import Table

from bench.citizen_load import Series

COLOURS = ("#1f4e79", "#9c4a00", "#2e7d32", "#6a1b9a")
W, H, PAD = 760, 240, 48


def table(pairs: list[tuple[str, Series, Series]], target: dict[str, float]) -> Table:
    """Each figure on one row, its baseline on the next; what each side is, in a legend."""
    t = Table("figure", "side", "rate/s", "n", "p50 ms", "p99 ms", "not 200", "target",
              title="citizen", caption="; ".join(f"{what}: {s.label} | baseline: {b.label}"
                                                 for what, s, b in pairs))
    for what, s, b in pairs:
        goal = f"p99 ≤ {target[what]:,.0f} ms" if what in target else ""
        for side, x in (("measured", s), ("baseline", b)):
            bad = sum(n for code, n in x.status.items() if code != 200)
            t.add_row(what if x is s else "", side, f"{x.rate:g}", str(len(x.points)),
                      f"{x.p(50):,.1f}", f"{x.p(99):,.1f}", str(bad), goal if x is s else "")
    return t


def document(pairs: list[tuple[str, Series, Series]], target: dict[str, float],
             about: dict) -> dict:
    return {"about": about, "figures": [
        {"what": what, "measured": s.as_json(), "baseline": b.as_json(),
         "target_p99_ms": target.get(what)} for what, s, b in pairs]}


def _panel(what: str, series: tuple[Series, Series], top: int) -> list[str]:
    pts = [p for s in series for p in s.points]
    t_max = max((t for t, _ in pts), default=1.0) or 1.0
    y_max = max((lat for _, lat in pts), default=0.001) * 1000 or 1.0
    x0, y0, w, h = PAD, top + 24, W - 2 * PAD, H - 64
    out = [f'<text x="{x0}" y="{top + 16}" font-weight="bold">{escape(what)}</text>',
           f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#777"/>',
           f'<text x="{x0 - 4}" y="{y0 + 10}" text-anchor="end">{y_max:.0f} ms</text>',
           f'<text x="{x0 - 4}" y="{y0 + h}" text-anchor="end">0</text>',
           f'<text x="{x0 + w}" y="{y0 + h + 16}" text-anchor="end">{t_max:.0f} s</text>']
    for k, s in enumerate(series):
        xy = " ".join(f"{x0 + t / t_max * w:.1f},{y0 + h - lat * 1000 / y_max * h:.1f}"
                      for t, lat in s.points)
        colour = COLOURS[k % len(COLOURS)]
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1" points="{xy}"/>')
        out.append(f'<text x="{x0 + 8}" y="{y0 + 16 + 14 * k}" fill="{colour}">'
                   f"{escape(s.label)}: p50 {s.p(50):.1f} / p99 {s.p(99):.1f} ms</text>")
    return out


def svg(pairs: list[tuple[str, Series, Series]]) -> str:
    body = [line for n, (what, s, b) in enumerate(pairs) for line in _panel(what, (s, b), n * H)]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H * len(pairs)}" '
            f'font-family="sans-serif" font-size="11" role="img">'
            f"<title>Latency over time, each series next to its baseline</title>"
            f'<rect width="100%" height="100%" fill="white"/>{"".join(body)}</svg>')


def write(out_dir: Path, stamp: str, doc: dict, picture: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    js, pic = out_dir / f"citizen-{stamp}.json", out_dir / f"citizen-{stamp}.svg"
    js.write_text(json.dumps(doc, indent=1, ensure_ascii=False))
    pic.write_text(picture)
    return js, pic
