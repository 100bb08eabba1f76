"""Random rounding to base 3 (``domain/rounding.py``) as the published tables use it: every
number a multiple of the base and less than the base away from the truth, small counts never
published as themselves, the same table the same numbers on every download (no averaging
back to the truth), unbiased over many cells, and nothing suppressed."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.registry_export.domain.codes import AGE_BANDS, SEXES
from services.registry_export.domain.rounding import Rounding
from services.registry_export.domain.statistics import Counts
from services.registry_export.domain.suppression import with_totals
from services.registry_export.domain.tables import COLS, ROWS, publish, to_csv, to_jsonstat

BANDS = [b[0] for b in AGE_BANDS]
KEY = b"test rounding key, not a secret"
tables = st.dictionaries(
    st.tuples(st.sampled_from(["0301", "1103"]), st.sampled_from(BANDS),
              st.sampled_from(SEXES), st.sampled_from(["home", "institution"])),
    st.one_of(st.integers(0, 5), st.integers(0, 400)), min_size=1, max_size=30)


def _true_cells(counts: Counts) -> dict[tuple, int]:
    """Every number of the table before protection, totals included."""
    blocks: dict[tuple, dict] = {}
    for (m, a, s, g), n in counts.cells.items():
        blocks.setdefault((m, g), {})[(a, s)] = n
    return {(m, a, s, g): n for (m, g), inner in blocks.items()
            for (a, s), n in with_totals(inner, ROWS, COLS).items()}


@settings(max_examples=150, deadline=None)
@given(tables, st.integers(2, 5), st.binary(min_size=1, max_size=32))
def test_every_number_is_a_near_multiple_of_the_base_and_no_small_count_shows(cells, base, key):
    counts = Counts("point", date(2025, 12, 31), date(2025, 12, 31), Counter(cells))
    published = publish(counts, rounding=Rounding(key, base))
    true = _true_cells(counts)
    assert set(published.cells) == set(true)
    for cell, n in true.items():
        v = published.cells[cell]
        assert v is not None and v % base == 0 and abs(v - n) < base, (cell, n, v)
        if n % base == 0:
            assert v == n            # 0 and multiples of the base stay as they are
        if 0 < n < base:
            assert v in (0, base)    # a small count is never published as itself
    assert publish(counts, rounding=Rounding(key, base)) == published   # the same every time


@settings(max_examples=60, deadline=None)
@given(tables)
def test_json_stat_and_csv_say_rounded_and_suppress_nothing(cells):
    counts = Counts("period", date(2025, 1, 1), date(2025, 12, 31), Counter(cells))
    table = publish(counts, rounding=Rounding(KEY))
    dataset = to_jsonstat(table, datetime(2026, 1, 2, tzinfo=UTC))
    assert dataset["status"] == {} and None not in dataset["value"]
    assert all(v % 3 == 0 for v in dataset["value"])
    assert "randomly rounded to a multiple of 3" in dataset["note"][0]
    assert ",." not in to_csv(table)


def test_rounding_is_unbiased_and_the_key_decides_the_direction():
    """A count of 1 in 3000 different cells: published as 3 about a third of the time, so the
    mean stays near 1; another key sends other cells up."""
    one = Rounding(KEY)
    ups = [one.round(1, f"cell {i}") for i in range(3000)]
    assert set(ups) == {0, 3}
    assert abs(sum(ups) / len(ups) - 1) < 0.15
    other = [Rounding(b"another key").round(1, f"cell {i}") for i in range(3000)]
    assert other != ups


def test_the_rounding_of_a_cell_does_not_change_with_the_day_of_its_year():
    """A period table of the running year is asked for again each day: its cells must not draw
    anew each day, or the days' tables averaged would give the true counts back."""
    cells = Counter({("0301", BANDS[-1], SEXES[0], "home"): 4,
                     ("0301", BANDS[-2], SEXES[1], "home"): 5})
    days = [publish(Counts("period", date(2026, 1, 1), date(2026, 3, d), cells),
                    rounding=Rounding(KEY)).cells for d in range(1, 29)]
    assert all(day == days[0] for day in days)


@pytest.mark.parametrize(("bad", "says"), [({"key": b""}, "secret key"),
                                            ({"key": KEY, "base": 1}, "at least 2")])
def test_a_missing_key_or_a_base_under_two_is_refused(bad, says):
    with pytest.raises(ValueError, match=says):
        Rounding(**bad)


def test_the_service_refuses_to_round_without_a_key_and_rounds_with_one():
    from services.registry_export.app import create_app   # noqa: PLC0415
    from services.registry_export.settings import RegistryExportSettings   # noqa: PLC0415

    with pytest.raises(ValueError, match="EHR_REGISTRY_ROUNDING_KEY"):
        create_app(RegistryExportSettings(environment="test", registry_protection="round"))
    chosen = RegistryExportSettings(environment="test", registry_protection="round",
                                    registry_rounding_key="k", registry_rounding_base=5)
    assert chosen.rounding() == Rounding(b"k", 5)
    assert RegistryExportSettings(environment="test").rounding() is None
