"""Server-rendered SVG charts for the analysts' dashboard: no script, nothing from elsewhere.

Each chart is an ``<svg role="img">`` named by its ``<title>`` and described, number by number,
by its ``<desc>``; the page puts the same numbers in a table next to it. A suppressed number is
drawn as a hatched stub marked "." (never as zero), so it stands out by shape and text as well
as by colour. Colours meet WCAG 2.1 AA against white (bars 7:1, text 12:1).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

BAR = "#1d4f73"
INK = "#222222"
MUTED = "#595959"
HATCH = (f'<pattern id="{{id}}" width="6" height="6" patternUnits="userSpaceOnUse" '
         f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
         f'<line x1="0" y1="0" x2="0" y2="6" stroke="{MUTED}" stroke-width="2"/></pattern>')


def _number(v: int | None, suppressed: str) -> str:
    return suppressed if v is None else f"{v:,}".replace(",", "\u00a0")


def bars(ident: str, title: str, items: Sequence[tuple[str, int | None]],
         suppressed: str) -> str:
    """A horizontal bar for each (label, value), the label above its bar (readable at a
    phone's width); ``None`` a hatched stub marked "."."""
    row, width, bar_w = 44, 360, 300
    height = row * len(items) + 6
    top = max([v for _, v in items if v is not None], default=0) or 1
    desc = "; ".join(f"{label}: {_number(v, suppressed)}" for label, v in items)
    parts = [f'<svg role="img" aria-labelledby="{ident}-t {ident}-d" class="chart" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{ident}-t">{escape(title)}</title>',
             f'<desc id="{ident}-d">{escape(desc)}</desc>',
             f"<defs>{HATCH.format(id=ident + '-h')}</defs>"]
    for i, (label, v) in enumerate(items):
        y = 4 + i * row
        parts.append(f'<text x="0" y="{y + 14}" font-size="14" fill="{INK}">'
                     f"{escape(label)}</text>")
        if v is None:
            parts.append(f'<rect x="0" y="{y + 20}" width="24" height="16" '
                         f'fill="url(#{ident}-h)" stroke="{MUTED}"/>'
                         f'<text x="30" y="{y + 34}" font-size="14" fill="{INK}">.</text>')
            continue
        w = round(bar_w * v / top, 1)
        parts.append(f'<rect x="0" y="{y + 20}" width="{w}" height="16" fill="{BAR}"/>'
                     f'<text x="{w + 6}" y="{y + 34}" font-size="14" '
                     f'fill="{INK}">{_number(v, suppressed)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def columns(ident: str, title: str, labels: Sequence[str], values: Sequence[int | None],
            suppressed: str, most: str = "max.") -> str:
    """A small column chart (one column a month), its own scale, its highest value written at
    the top; ``None`` a hatched stub marked "."."""
    width, height, base, col = 260, 130, 105, 260 / max(len(labels), 12)
    top = max([v for v in values if v is not None], default=0) or 1
    desc = "; ".join(f"{label}: {_number(v, suppressed)}" for label, v in zip(labels, values))
    parts = [f'<svg role="img" aria-labelledby="{ident}-t {ident}-d" class="spark" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{ident}-t">{escape(title)}</title>',
             f'<desc id="{ident}-d">{escape(desc)}</desc>',
             f"<defs>{HATCH.format(id=ident + '-h')}</defs>",
             f'<line x1="0" y1="{base}" x2="{width}" y2="{base}" stroke="{MUTED}"/>',
             f'<text x="0" y="12" font-size="12" fill="{INK}">'
             f"{escape(most)} {_number(top if any(v for v in values if v) else 0, suppressed)}"
             "</text>"]
    for i, (label, v) in enumerate(zip(labels, values)):
        x = i * col + 2
        parts.append(f'<text x="{x + (col - 4) / 2:.1f}" y="{height - 8}" font-size="11" '
                     f'text-anchor="middle" fill="{INK}">{escape(label[:1])}</text>')
        if v is None:
            parts.append(f'<rect x="{x:.1f}" y="{base - 12}" width="{col - 4:.1f}" height="12" '
                         f'fill="url(#{ident}-h)" stroke="{MUTED}"/>'
                         f'<text x="{x + (col - 4) / 2:.1f}" y="{base - 16}" font-size="14" '
                         f'text-anchor="middle" fill="{INK}">.</text>')
            continue
        h = round((base - 20) * v / top, 1)
        parts.append(f'<rect x="{x:.1f}" y="{base - h}" width="{col - 4:.1f}" height="{h}" '
                     f'fill="{BAR}"/>')
    parts.append("</svg>")
    return "".join(parts)
