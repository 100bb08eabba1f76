"""Published statistics tables: counts cut into blocks, protected, and written as JSON-stat 2.0
(SSB's format: https://json-stat.org/format/) or CSV. Protected by suppression (a suppressed
cell is ``null`` with status "." in JSON-stat and "." in CSV, the way SSB marks it) or by
random rounding (``rounding.py``: every number a multiple of the base, none suppressed), or by
controlled rounding (``controlled.py``: the same, with totals that add up)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.registry_export.domain.codes import AGE_BANDS, GROUPS, SEXES
from services.registry_export.domain.controlled import controlled_round
from services.registry_export.domain.rounding import Rounding
from services.registry_export.domain.statistics import Counts
from services.registry_export.domain.suppression import TOTAL, protect, with_totals

ROWS = tuple(b[0] for b in AGE_BANDS)
COLS = SEXES
AGES = (*ROWS, TOTAL)
SEX = (*COLS, TOTAL)
SEX_LABELS = {"female": "Kvinner / Women", "male": "Menn / Men",
              "unknown": "Annet eller ukjent / Other or unknown", TOTAL: "I alt / Total"}

Key = tuple[str, str, str, str]   # (municipality, age, sex, group), age and sex may be TOTAL


@dataclass(frozen=True)
class Published:
    kind: str
    label: str
    period: str              # "2025-12-31" (point) or "2025-01-01/2025-12-31" (period)
    min_cell: int
    cells: dict[Key, int | None]   # None: suppressed
    rounding_base: int | None = None   # rounded to this base instead of suppressed
    controlled: bool = False           # ... by controlled rounding: the totals add up

    @property
    def municipalities(self) -> list[str]:
        return sorted({k[0] for k in self.cells})


def cell_ident(counts: Counts, key: Key) -> str:
    """What a cell's rounding draw is keyed by: a point count's day, a period count's year (a
    period table of the running year must not draw anew each day)."""
    stamp = counts.end.isoformat() if counts.kind == "point" else str(counts.end.year)
    return "|".join((counts.kind, stamp, *key))


def publish(counts: Counts, min_cell: int = 3, rounding: Rounding | None = None) -> Published:
    """The table of ``counts``: suppressed below ``min_cell`` (with secondary suppression), or,
    given ``rounding``, every number randomly rounded instead."""
    blocks: dict[tuple[str, str], dict[tuple[str, str], int]] = {}
    for (mun, band, sex, group), n in counts.cells.items():
        blocks.setdefault((mun, group), {})[(band, sex)] = n
    period = (counts.end.isoformat() if counts.kind == "point"
              else f"{counts.start.isoformat()}/{counts.end.isoformat()}")
    cells: dict[Key, int | None] = {}
    for (mun, group), inner in sorted(blocks.items()):
        if rounding is not None and rounding.controlled:
            def ident(cell: tuple[str, str], mun: str = mun, group: str = group) -> str:
                return cell_ident(counts, (mun, *cell, group))
            for (band, sex), n in controlled_round(inner, ROWS, COLS, rounding, ident).items():
                cells[(mun, band, sex, group)] = n
            continue
        block = with_totals(inner, ROWS, COLS)
        if rounding is not None:
            for (band, sex), n in block.items():
                key = (mun, band, sex, group)
                cells[key] = rounding.round(n, cell_ident(counts, key))
            continue
        hidden = protect(block, ROWS, COLS, min_cell)
        for (band, sex), n in block.items():
            cells[(mun, band, sex, group)] = None if (band, sex) in hidden else n
    if counts.kind == "point":
        label = f"Brukere av omsorgstjenester per {period} / Care service users on {period}"
    else:
        label = (f"Brukere av omsorgstjenester i perioden {period} / "
                 f"Care service users in {period}")
    return Published(counts.kind, label, period, min_cell, cells,
                     rounding.base if rounding else None,
                     rounding is not None and rounding.controlled)


def to_jsonstat(table: Published, updated: datetime) -> dict[str, Any]:
    muns, groups = table.municipalities, list(GROUPS)
    dims = {"region": muns, "age": list(AGES), "sex": list(SEX), "group": groups}
    values: list[int | None] = []
    status: dict[str, str] = {}
    for m in muns:
        for a in AGES:
            for s in SEX:
                for g in groups:
                    v = table.cells.get((m, a, s, g), 0)   # no block: no users, all 0
                    if v is None:
                        status[str(len(values))] = "."
                    values.append(v)
    labels = {"region": {m: m for m in muns},
              "age": {a: ("I alt / Total" if a == TOTAL else f"{a} år / years") for a in AGES},
              "sex": SEX_LABELS,
              "group": {g: f"{no} / {en}" for g, (no, en, _) in GROUPS.items()}}
    return {
        "version": "2.0", "class": "dataset", "label": table.label,
        "source": "EHR registry export (KPR data of the municipality)",
        "updated": updated.isoformat(), "id": list(dims), "size": [len(v) for v in dims.values()],
        "dimension": {d: {"label": d, "category": {
            "index": {c: i for i, c in enumerate(cats)}, "label": labels[d]}}
            for d, cats in dims.items()},
        "value": values, "status": status,
        "note": [_protection_note(table),
                 "Groups do not add up: one person can use several service groups."],
        "extension": {"kind": table.kind, "period": table.period},
    }


def _protection_note(table: Published) -> str:
    if table.rounding_base and table.controlled:
        return (f"Users are counted once per service group. Every number is rounded to a "
                f"multiple of {table.rounding_base} by controlled rounding: each less than "
                f"{table.rounding_base} from the true count, 0 as it is, and the totals are "
                "the sums of their rounded parts.")
    if table.rounding_base:
        return (f"Users are counted once per service group. Every number is randomly rounded "
                f"to a multiple of {table.rounding_base}, totals on their own, so totals need "
                "not add up to their parts.")
    return (f"Users are counted once per service group. Cells under {table.min_cell} and the "
            "cells that would reveal them are suppressed ('.').")


def to_csv(table: Published) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["period", "region", "age", "sex", "group", "value"])
    for (m, a, s, g), v in sorted(table.cells.items()):
        w.writerow([table.period, m, a, s, g, "." if v is None else v])
    return out.getvalue()
