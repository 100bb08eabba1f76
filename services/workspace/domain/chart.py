"""Vital signs over time as an inline SVG with its table (the picture for the eye, the table
for a screen reader): points scaled into a fixed box, with the lowest and highest value as
labelled gridlines."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

WIDTH, HEIGHT, PAD = 320, 96, 10
VITALS = {   # LOINC -> (bokmål, English)
    "8867-4": ("Puls", "Pulse"),
    "8480-6": ("Systolisk blodtrykk", "Systolic blood pressure"),
    "8462-4": ("Diastolisk blodtrykk", "Diastolic blood pressure"),
    "8310-5": ("Temperatur", "Body temperature"),
    "9279-1": ("Respirasjonsfrekvens", "Respiratory rate"),
    "59408-5": ("Oksygenmetning", "Oxygen saturation"),
    "29463-7": ("Vekt", "Body weight"),
    "2339-0": ("Blodsukker", "Blood glucose"),
}


@dataclass(frozen=True)
class Chart:
    code: str
    unit: str
    points: tuple[tuple[datetime, float], ...]   # oldest first
    svg: tuple[tuple[float, float], ...]
    low: float
    high: float

    def name(self, lang: str) -> str:
        nb, en = VITALS.get(self.code, (self.code, self.code))
        return en if lang == "en" else nb

    @property
    def latest(self) -> float:
        return self.points[-1][1]


def scale(points: tuple[tuple[datetime, float], ...]) -> tuple[tuple[float, float], ...]:
    """x by time between the first and the last point, y by value (higher is up); a single
    point or a flat series sits in the middle."""
    first, last = points[0][0], points[-1][0]
    low, high = min(v for _, v in points), max(v for _, v in points)
    seconds = (last - first).total_seconds()
    out = []
    for at, value in points:
        x = PAD + ((at - first).total_seconds() / seconds if seconds else 0.5) * (WIDTH - 2 * PAD)
        y = HEIGHT / 2 if high == low else \
            HEIGHT - PAD - (value - low) / (high - low) * (HEIGHT - 2 * PAD)
        out.append((round(x, 1), round(y, 1)))
    return tuple(out)


def charts(observations: Iterable[Mapping[str, Any]], keep: int = 12) -> list[Chart]:
    """One chart per code (in the order of ``VITALS``, unknown codes last), of its newest
    ``keep`` final values."""
    by_code: dict[str, list[tuple[datetime, float, str]]] = {}
    for o in observations:
        if o.get("status", "final") not in ("final", "amended", "corrected"):
            continue
        by_code.setdefault(o["code"], []).append(
            (datetime.fromisoformat(o["effective_at"]), float(o["value"]), o.get("unit", "")))
    order = list(VITALS)
    out = []
    for code in sorted(by_code, key=lambda c: (order.index(c) if c in order else 99, c)):
        rows = sorted(by_code[code])[-keep:]
        points = tuple((at, v) for at, v, _ in rows)
        values = [v for _, v in points]
        out.append(Chart(code, rows[-1][2], points, scale(points), min(values), max(values)))
    return out
