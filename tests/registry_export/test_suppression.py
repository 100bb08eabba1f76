"""Secondary suppression against an attacker: for any table, no suppressed cell can be worked
out from the published cells, the row and column totals and ``n >= 0``.

The attacker here is written apart from the production code: it reads only the published
table (JSON-stat, where a suppressed cell is null), writes every relation a reader can see
(each row and column adds up to its total) and asks a linear programme for the least and the
greatest value of each suppressed cell. A table of counts with totals is totally unimodular,
so the programme's bounds are the integer bounds: an interval narrower than 1 is a cell
worked out."""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, date, datetime

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from services.registry_export.domain.codes import AGE_BANDS, GROUPS, SEXES
from services.registry_export.domain.statistics import Counts
from services.registry_export.domain.suppression import with_totals
from services.registry_export.domain.tables import (
    COLS, ROWS, Published, publish, to_csv, to_jsonstat,
)

CASES = int(os.environ.get("EHR_REGISTRY_ATTACK_CASES", "80"))
BANDS = [b[0] for b in AGE_BANDS]
small = st.one_of(st.integers(0, 4), st.integers(0, 40))


def attack(dataset: dict) -> list[tuple[tuple, float, float]]:
    """Every suppressed cell with the interval the published numbers leave it."""
    ids, sizes = dataset["id"], dataset["size"]
    cats = [list(dataset["dimension"][d]["category"]["index"]) for d in ids]
    values = np.array(dataset["value"], dtype=object).reshape(sizes)
    unknown = [idx for idx in np.ndindex(*sizes) if values[idx] is None]
    var = {idx: i for i, idx in enumerate(unknown)}
    a_eq, b_eq = [], []
    age_total, sex_total = cats[1].index("total"), cats[2].index("total")
    for m in range(sizes[0]):
        for g in range(sizes[3]):
            relations = [([(m, a, s, g) for a in range(sizes[1]) if a != age_total],
                          (m, age_total, s, g)) for s in range(sizes[2])]
            relations += [([(m, a, s, g) for s in range(sizes[2]) if s != sex_total],
                           (m, a, sex_total, g)) for a in range(sizes[1])]
            for parts, total in relations:
                row, rhs = np.zeros(len(unknown)), 0.0
                for idx, sign in [(total, -1)] + [(p, 1) for p in parts]:
                    if idx in var:
                        row[var[idx]] += sign
                    else:
                        rhs -= sign * values[idx]
                if row.any():
                    a_eq.append(row)
                    b_eq.append(rhs)
    found = []
    for idx, i in var.items():
        c = np.zeros(len(unknown))
        c[i] = 1
        lo = linprog(c, A_eq=np.array(a_eq), b_eq=b_eq, bounds=(0, None), method="highs")
        hi = linprog(-c, A_eq=np.array(a_eq), b_eq=b_eq, bounds=(0, None), method="highs")
        assert lo.status == 0, "the published table must be consistent"
        found.append((tuple(cats[d][k] for d, k in enumerate(idx)), lo.fun,
                      -hi.fun if hi.status == 0 else float("inf")))
    return found


tables = st.dictionaries(
    st.tuples(st.sampled_from(["0301", "1103"]), st.sampled_from(BANDS),
              st.sampled_from(SEXES), st.sampled_from(["home", "institution"])),
    small, min_size=1, max_size=30)


@settings(max_examples=CASES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables, st.integers(2, 5))
def test_the_attacker_works_out_no_suppressed_cell(cells, min_cell):
    counts = Counts("point", date(2025, 12, 31), date(2025, 12, 31), Counter(cells))
    dataset = to_jsonstat(publish(counts, min_cell), datetime(2026, 1, 2, tzinfo=UTC))
    for cell, lo, hi in attack(dataset):
        assert hi - lo >= 1 - 1e-6, f"{cell} is pinned to [{lo}, {hi}]"
    # every small count is suppressed, every published number is the true one
    published = publish(counts, min_cell).cells
    for (m, a, s, g), n in cells.items():
        if 0 < n < min_cell:
            assert published[(m, a, s, g)] is None
        elif published[(m, a, s, g)] is not None:
            assert published[(m, a, s, g)] == n


def test_the_attacker_finds_a_cell_primary_suppression_alone_leaves_open():
    """The attacker is not toothless: with only the small cell hidden it works it out."""
    counts = Counts("point", date(2025, 12, 31), date(2025, 12, 31), Counter({
        ("0301", "80-89", "female", "home"): 1, ("0301", "80-89", "male", "home"): 7}))
    true = {(m, a, s, g): n for (a, s), n in with_totals(
        {k[1:3]: v for k, v in counts.cells.items()}, ROWS, COLS).items()
        for m, g in [("0301", "home")]}
    true[("0301", "80-89", "female", "home")] = None
    naive = to_jsonstat(Published("point", "t", "2025-12-31", 3, true),
                        datetime(2026, 1, 2, tzinfo=UTC))
    assert [(cell, lo, hi) for cell, lo, hi in attack(naive)] == [
        (("0301", "80-89", "female", "home"), 1.0, 1.0)]


def test_a_lonely_small_cell_takes_a_partner_in_its_row_and_column():
    counts = Counts("point", date(2025, 12, 31), date(2025, 12, 31), Counter({
        ("0301", "80-89", "female", "home"): 1, ("0301", "80-89", "male", "home"): 7,
        ("0301", "67-79", "female", "home"): 5, ("0301", "67-79", "male", "home"): 9}))
    table = publish(counts)
    hidden = sorted(k[1:3] for k, v in table.cells.items() if v is None)
    # the 1 alone would be the row total minus 7: its row, column and a fourth cell go too
    assert ("80-89", "female") in hidden and len(hidden) >= 4
    assert table.cells[("0301", "total", "total", "home")] == 22
    csv_text = to_csv(table)
    assert "2025-12-31,0301,80-89,female,home,." in csv_text
    assert "2025-12-31,0301,total,total,home,22" in csv_text
    assert set(GROUPS) >= {k[3] for k in table.cells}
