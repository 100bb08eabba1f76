"""Controlled rounding (``domain/controlled.py``, ``EHR_REGISTRY_PROTECTION=controlled``), as
the published tables use it: every number a multiple of the base and less than the base from
the truth, 0 cells and multiples of the base as they are, every total the sum of its published
parts, the same table the same numbers, and a refusal without the key."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.registry_export.domain.codes import AGE_BANDS, SEXES
from services.registry_export.domain.controlled import controlled_round
from services.registry_export.domain.rounding import Rounding
from services.registry_export.domain.statistics import Counts
from services.registry_export.domain.suppression import TOTAL, with_totals
from services.registry_export.domain.tables import COLS, ROWS, publish, to_jsonstat
from services.registry_export.settings import RegistryExportSettings
from tests.registry_export.test_rounding import KEY, _true_cells, tables

BANDS = [b[0] for b in AGE_BANDS]
blocks = st.dictionaries(st.tuples(st.sampled_from(BANDS), st.sampled_from(SEXES)),
                         st.one_of(st.integers(0, 5), st.integers(0, 300)), max_size=18)


def _adds_up(block: dict) -> None:
    for r in ROWS:
        assert block[(r, TOTAL)] == sum(block[(r, c)] for c in COLS)
    for c in COLS:
        assert block[(TOTAL, c)] == sum(block[(r, c)] for r in ROWS)
    assert block[(TOTAL, TOTAL)] == sum(block[(TOTAL, c)] for c in COLS)


@settings(max_examples=200, deadline=None)
@given(blocks, st.integers(2, 5), st.binary(min_size=1, max_size=32))
def test_the_totals_add_up_and_no_number_moves_a_base(inner, base, key):
    rounding = Rounding(key, base, controlled=True)
    got = controlled_round(inner, ROWS, COLS, rounding, lambda cell: "|".join(cell))
    true = with_totals(inner, ROWS, COLS)
    assert set(got) == set(true)
    _adds_up(got)
    for cell, n in true.items():
        assert got[cell] % base == 0 and abs(got[cell] - n) < base, cell
        if n % base == 0:   # 0 cells (and multiples of the base) stay as they are
            assert got[cell] == n, cell
    assert controlled_round(inner, ROWS, COLS, rounding, lambda cell: "|".join(cell)) == got


@settings(max_examples=60, deadline=None)
@given(tables)
def test_a_published_table_adds_up_in_every_block(cells):
    counts = Counts("point", date(2025, 12, 31), date(2025, 12, 31), cells)
    rounding = Rounding(KEY, 3, controlled=True)
    table = publish(counts, rounding=rounding)
    true = _true_cells(counts)
    assert set(table.cells) == set(true)
    for m, g in {(k[0], k[3]) for k in table.cells}:
        block = {(a, s): v for (mm, a, s, gg), v in table.cells.items() if (mm, gg) == (m, g)}
        _adds_up(block)
    for key, n in true.items():
        v = table.cells[key]
        assert v is not None and v % 3 == 0 and abs(v - n) < 3 and (n != 0 or v == 0)
    assert publish(counts, rounding=rounding) == table   # the same numbers on every download


def test_the_directions_follow_the_key_and_the_note_says_the_totals_add_up():
    """A block of ones: each row of three 1s sums to 3, so exactly one cell of each row goes
    up; which one is the key's draw (unknown without it), not a fixed rule."""
    inner = {(r, c): 1 for r in ROWS for c in COLS}
    ups = set()
    for key in (b"key one", b"key two", b"key three", b"key four"):
        got = controlled_round(inner, ROWS, COLS, Rounding(key, 3, controlled=True),
                               lambda cell: "|".join(cell))
        assert all(got[(r, TOTAL)] == 3 for r in ROWS)
        ups.add(frozenset(cell for cell in inner if got[cell] == 3))
    assert len(ups) > 1
    counts = Counts("point", date(2025, 12, 31), date(2025, 12, 31),
                    {("0301", "80-89", "female", "home"): 4})
    note = to_jsonstat(publish(counts, rounding=Rounding(KEY, 3, controlled=True)),
                       updated=datetime(2026, 1, 2, tzinfo=UTC))["note"][0]
    assert "controlled rounding" in note and "sums of their rounded parts" in note


def test_controlled_rounding_needs_the_key():
    chosen = RegistryExportSettings(registry_protection="controlled")
    with pytest.raises(ValueError, match="EHR_REGISTRY_ROUNDING_KEY"):
        chosen.rounding()
    keyed = RegistryExportSettings(registry_protection="controlled",
                                   registry_rounding_key="not from the repo")
    assert keyed.rounding() == Rounding(b"not from the repo", 3, controlled=True)
