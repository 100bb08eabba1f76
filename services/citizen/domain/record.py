"""What of the record a citizen sees, and the vital-signs chart (pure).

- A note is shown once it is signed and the hold-back has passed since it was signed
  (``citizen_note_hold_back_h``): a clinician has time to talk to the patient first.
- Observations entered in error are gone; a corrected one shows its new value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from libs.kernel.time import OSLO

VITALS = {   # LOINC code -> (bokmål, English)
    "8867-4": ("Puls", "Heart rate"),
    "8480-6": ("Systolisk blodtrykk", "Systolic blood pressure"),
    "8462-4": ("Diastolisk blodtrykk", "Diastolic blood pressure"),
    "8310-5": ("Temperatur", "Body temperature"),
    "9279-1": ("Respirasjonsfrekvens", "Respiratory rate"),
    "59408-5": ("Oksygenmetning", "Oxygen saturation"),
    "29463-7": ("Vekt", "Body weight"),
    "2339-0": ("Blodsukker", "Blood glucose"),
}


def week_of(now: datetime) -> tuple[datetime, datetime]:
    """This week in Oslo, Monday 00:00 to the next Monday 00:00."""
    local = now.astimezone(OSLO)
    monday = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0,
                                                               microsecond=0)
    return monday, (monday + timedelta(days=7)).replace(tzinfo=OSLO)


def visits(items: Iterable[Mapping[str, Any]], now: datetime) -> list[dict]:
    """Home-care visits planned for this week (Oslo), in time order; cancelled ones too, marked
    as such, so a person sees that a visit will not happen."""
    start, end = week_of(now)
    out = [dict(v) for v in items if start <= datetime.fromisoformat(v["due_at"]) < end]
    return sorted(out, key=lambda v: v["due_at"])


def shown_note(doc: Mapping[str, Any], now: datetime, hold_back: timedelta) -> bool:
    if doc.get("status") != "signed" or not doc.get("signed_at"):
        return False
    return datetime.fromisoformat(doc["signed_at"]) + hold_back <= now


def notes(items: Iterable[Mapping[str, Any]], now: datetime,
          hold_back: timedelta) -> list[dict]:
    """Signed notes past the hold-back, newest first."""
    out = [dict(d) for d in items if shown_note(d, now, hold_back)]
    return sorted(out, key=lambda d: d["signed_at"], reverse=True)


@dataclass(frozen=True)
class Series:
    code: str
    unit: str
    points: tuple[tuple[datetime, float], ...]   # oldest first

    def label(self, lang: str) -> str:
        nb, en = VITALS.get(self.code, (self.code, self.code))
        return en if lang == "en" else nb


def series(observations: Iterable[Mapping[str, Any]], limit: int = 20) -> list[Series]:
    """One series per code, the latest ``limit`` points each, oldest first."""
    by_code: dict[str, list[tuple[datetime, float, str]]] = {}
    for o in observations:
        by_code.setdefault(o["code"], []).append(
            (datetime.fromisoformat(o["effective_at"]), float(o["value"]), o["ucum"]))
    out = []
    for code in sorted(by_code):
        pts = sorted(by_code[code])[-limit:]
        out.append(Series(code, pts[-1][2], tuple((t, v) for t, v, _ in pts)))
    return out


def polyline(points: Sequence[tuple[datetime, float]], width: int = 300,
             height: int = 80, pad: int = 6) -> list[tuple[float, float]]:
    """SVG coordinates of a series: time on x, value on y (higher up), inside the padding."""
    if not points:
        return []
    t0, t1 = points[0][0], points[-1][0]
    lo, hi = min(v for _, v in points), max(v for _, v in points)
    span_t = (t1 - t0).total_seconds() or 1.0
    span_v = (hi - lo) or 1.0
    return [(round(pad + (t - t0).total_seconds() / span_t * (width - 2 * pad), 1),
             round(height - pad - (v - lo) / span_v * (height - 2 * pad), 1))
            for t, v in points]


SECTIONS = {"notes": "notes", "vital_signs": "observations", "conditions": "conditions",
            "critical_info": "critical_info"}   # the record's parts -> information categories
_IDS = {"notes": "note_id", "conditions": "condition_id", "critical_info": "critical_id"}


def limited(view: dict, hidden: Iterable[str], categories: Iterable[str] | None) -> dict:
    """The record as a limited proxy sees it (a parent of a 12–16-year-old): only the
    categories the decision allows, and nothing the young person hid from their parents."""
    hidden = set(hidden)
    allowed = None if categories is None else set(categories)
    out = dict(view)
    for part, category in SECTIONS.items():
        if category in hidden or (allowed is not None and category not in allowed):
            out[part] = []
        elif part in _IDS:
            out[part] = [x for x in view.get(part, ()) if str(x.get(_IDS[part])) not in hidden]
    return out
