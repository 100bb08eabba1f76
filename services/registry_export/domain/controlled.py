"""Controlled rounding of a published block (``EHR_REGISTRY_PROTECTION=controlled``): every
number a multiple of the base, and the totals still the sums of their rounded parts. Pure.

Random rounding (``rounding.py``) rounds each number on its own, so its totals need not add up.
Controlled rounding rounds the inner cells of one (municipality, service group) block, age band
× sex, each to one of its two neighbouring multiples of the base, and publishes as totals the
sums of the rounded cells, choosing the directions so that each of those sums is also one of
the true total's two neighbouring multiples (a "zero-restricted" controlled rounding, Cox 1987,
"A constructive procedure for unbiased controlled rounding", JASA 82: it always exists for a
two-way table with its margins). So:

- every published number, cell or total, is a multiple of the base and less than the base away
  from the true one; a multiple of the base, 0 too, stays as it is;
- every row, column and the grand total add up to the published cells.

**How.** Write a cell ``n = q·b + r`` (``0 ≤ r < b``) and let ``x`` be 1 when it goes up to
``(q + 1)·b``, 0 when it goes down (``x = 0`` when ``r = 0``). A row total then goes to a
neighbouring multiple of its true value exactly when the row's ``Σ x`` lies between
``⌊Σ r / b⌋`` and ``⌈Σ r / b⌉``; the same for each column and the grand total. These are
integer bounds on sums over two laminar families of cells (the rows with the grand total, the
columns), so the constraint matrix is totally unimodular and a solution exists and is found
by an integer programme (scipy's ``milp``, HiGHS) in milliseconds for a 6 × 3 block. No
controlled-rounding library for Python fits (SSB's SmallCountRounding is R; the Python ones are
one-person best-first searches that only bring margins "closer"), hence these lines.

**Which solution: the random rounding's, as near as the totals allow, the same every time.**
Among the solutions the programme takes the one that agrees best with the keyed random draws of
``rounding.py`` (a cell "wants" to go up when its HMAC draw is below ``r / b``): the objective
is ``Σ (draw − r / b) · x``. The same table and key give the same numbers on every download,
and without the key nobody can tell which way a cell went.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from services.registry_export.domain.rounding import Rounding
from services.registry_export.domain.suppression import Cell, with_totals


def controlled_round(inner: Mapping[Cell, int], rows: Iterable[str], cols: Iterable[str],
                     rounding: Rounding, ident: Callable[[Cell], str]) -> dict[Cell, int]:
    """The block of ``inner`` (age band × sex counts) with its totals, every number rounded to
    a multiple of ``rounding.base`` and every total the sum of its rounded parts. ``ident``
    names a cell for its draw."""
    rows, cols, b = list(rows), list(cols), rounding.base
    block = with_totals(inner, rows, cols)
    loose = [(r, c) for r in rows for c in cols if block[(r, c)] % b]
    up = dict.fromkeys(loose, 0)
    if loose:
        up = dict(zip(loose, _directions(block, loose, rows, cols, rounding, ident),
                      strict=True))
    out = {(r, c): (block[(r, c)] // b + up.get((r, c), 0)) * b for r in rows for c in cols}
    return with_totals(out, rows, cols)


def _directions(block: Mapping[Cell, int], loose: list[Cell], rows: list[str],
                cols: list[str], rounding: Rounding,
                ident: Callable[[Cell], str]) -> list[int]:
    b = rounding.base
    index = {cell: i for i, cell in enumerate(loose)}
    groups = [[(r, c) for c in cols] for r in rows] + [[(r, c) for r in rows] for c in cols]
    groups.append([(r, c) for r in rows for c in cols])
    matrix, low, high = [], [], []
    for cells in groups:
        members = [index[cell] for cell in cells if cell in index]
        if not members:
            continue
        row = np.zeros(len(loose))
        row[members] = 1
        rest = sum(block[cell] % b for cell in cells)
        matrix.append(row)
        low.append(rest // b)
        high.append(-(-rest // b))
    wants = np.array([rounding.draw(ident(cell)) - (block[cell] % b) / b for cell in loose])
    result = milp(wants, integrality=np.ones(len(loose)), bounds=Bounds(0, 1),
                  constraints=LinearConstraint(np.array(matrix), low, high))
    if result.x is None:   # cannot happen for a two-way table (Cox 1987); never publish wrong
        raise RuntimeError(f"controlled rounding found no solution: {result.message}")
    return [int(round(v)) for v in result.x]

