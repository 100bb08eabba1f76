"""Small-cell suppression of published tables (requirement 42): primary and secondary.

A published table is cut into **blocks**, one per municipality and service group: an age band
× sex table with its row totals, column totals and grand total ("total"). Nothing is published
across blocks (a person can use several groups, so groups do not add up, and no national total
is published), so a block can be protected on its own.

- **Primary:** every cell with ``0 < n < min_cell`` is suppressed (".").
- **Secondary:** the published numbers of a block are linear equations (each row and column
  sums to its total), and counts are never negative. A suppressed cell is safe only if those
  equations leave it at least two possible values. First every line with exactly one
  suppressed cell gets a second one (the smallest non-zero cell of the line). Then an
  attacker's linear programme (scipy's HiGHS) finds the least and the greatest value each
  suppressed cell can take; any cell whose interval is narrower than 1 gets another partner,
  until none is. Everything suppressed is always safe, so this ends.

Pure: numbers in, the set of suppressed cells out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
from scipy.optimize import linprog

TOTAL = "total"
Cell = tuple[str, str]   # (row, column), either may be TOTAL


def lines(rows: Iterable[str], cols: Iterable[str]) -> list[tuple[Cell, list[Cell]]]:
    """Each published equation of a block: (total cell, the cells that add up to it)."""
    rows, cols = list(rows), list(cols)
    out = [((r, TOTAL), [(r, c) for c in cols]) for r in rows]
    out += [((TOTAL, c), [(r, c) for r in rows]) for c in cols]
    out.append(((TOTAL, TOTAL), [(TOTAL, c) for c in cols]))
    out.append(((TOTAL, TOTAL), [(r, TOTAL) for r in rows]))
    return out


def with_totals(inner: Mapping[Cell, int], rows: Iterable[str],
                cols: Iterable[str]) -> dict[Cell, int]:
    rows, cols = list(rows), list(cols)
    block = {(r, c): int(inner.get((r, c), 0)) for r in rows for c in cols}
    for r in rows:
        block[(r, TOTAL)] = sum(block[(r, c)] for c in cols)
    for c in cols:
        block[(TOTAL, c)] = sum(block[(r, c)] for r in rows)
    block[(TOTAL, TOTAL)] = sum(block[(r, TOTAL)] for r in rows)
    return block


def intervals(block: Mapping[Cell, int], hidden: set[Cell],
              eqs: list[tuple[Cell, list[Cell]]]) -> dict[Cell, tuple[float, float]]:
    """What an attacker knowing the published cells, the equations and ``n >= 0`` can say of
    each hidden cell: its least and greatest possible value (inf: unbounded)."""
    if not hidden:
        return {}
    order = sorted(hidden)
    index = {c: i for i, c in enumerate(order)}
    a_eq, b_eq = [], []
    for total, parts in eqs:
        row, rhs = np.zeros(len(order)), 0.0
        for cell, sign in [(total, -1.0)] + [(p, 1.0) for p in parts]:
            if cell in index:
                row[index[cell]] += sign
            else:
                rhs -= sign * block[cell]
        if row.any():
            a_eq.append(row)
            b_eq.append(rhs)
    out: dict[Cell, tuple[float, float]] = {}
    for cell, i in index.items():
        bounds = []
        for direction in (1.0, -1.0):
            c = np.zeros(len(order))
            c[i] = direction
            res = linprog(c, A_eq=np.array(a_eq) if a_eq else None,
                          b_eq=np.array(b_eq) if b_eq else None,
                          bounds=(0, None), method="highs")
            bounds.append(direction * res.fun if res.status == 0 else float("inf"))
        out[cell] = (bounds[0], bounds[1])
    return out


def protect(block: Mapping[Cell, int], rows: Iterable[str], cols: Iterable[str],
            min_cell: int = 3) -> set[Cell]:
    """The cells of one block (with its totals) to suppress."""
    eqs = lines(rows, cols)
    hidden = {c for c, n in block.items() if 0 < n < min_cell}
    while True:
        if _pair_lines(block, hidden, eqs):
            continue
        exposed = [c for c, (lo, hi) in sorted(intervals(block, hidden, eqs).items())
                   if hi - lo < 1 - 1e-9]
        if not exposed:
            return hidden
        _add_partner(block, hidden, eqs, exposed[0])


def _members(line: tuple[Cell, list[Cell]]) -> list[Cell]:
    return [line[0], *line[1]]


def _cheapest(block: Mapping[Cell, int], candidates: Iterable[Cell]) -> Cell | None:
    """The smallest non-zero candidate, inner cells before totals."""
    ranked = sorted((c for c in candidates if block[c] > 0),
                    key=lambda c: (TOTAL in c, block[c], c))
    return ranked[0] if ranked else None


def _pair_lines(block: Mapping[Cell, int], hidden: set[Cell],
                eqs: list[tuple[Cell, list[Cell]]]) -> bool:
    for line in eqs:
        members = _members(line)
        if sum(c in hidden for c in members) == 1:
            partner = _cheapest(block, [c for c in members if c not in hidden])
            if partner is not None:
                hidden.add(partner)
                return True
    return False


def _add_partner(block: Mapping[Cell, int], hidden: set[Cell],
                 eqs: list[tuple[Cell, list[Cell]]], cell: Cell) -> None:
    near = {c for line in eqs if cell in _members(line) for c in _members(line)}
    partner = (_cheapest(block, near - hidden) or _cheapest(block, set(block) - hidden)
               or min(set(block) - hidden, default=None))
    if partner is None:   # cannot happen: with everything hidden no cell is exposed
        raise AssertionError("no cell left to suppress")
    hidden.add(partner)
