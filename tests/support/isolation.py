"""A test's broken teardown must not hand its fixtures to the tests after it (a pytest plugin,
loaded by ``tests/conftest.py``).

pytest tears a test down by running its finalizers in a loop that stops at the first exception
that is not an ``Exception`` (``asyncio.CancelledError`` out of an async fixture's teardown,
for one): the finalizers after it never run, so the function-scoped fixtures they would have
finished keep their values, and every later test is given those again. With ``unique`` kept,
every later test shares one schema and one set of topics and sees the others' data: one CI run
(stop 42) had 48 tests fail so, after a teardown error, with "The patient is already
registered" and people counted who were never sent to that test.

Before a test is set up, a function-scoped fixture still holding a value is such a leftover:
it is dropped (its own teardown is not run again: the test that left it has its error
already) and named in a warning, so the test gets fresh ones."""

from __future__ import annotations

import warnings

import pytest


class LeftoverFixtures(UserWarning):
    """Function-scoped fixtures a failed teardown left with their values."""


def leftovers(item: pytest.Item) -> list:
    """The function-scoped fixture definitions of ``item`` still holding a value before its
    setup (``FixtureDef``; pytest keeps them in the item's private ``_fixtureinfo``)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return []
    return [d for defs in info.name2fixturedefs.values() for d in defs
            if d.scope == "function" and d.cached_result is not None]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    stale = leftovers(item)
    for d in stale:
        d.cached_result = None
        d._finalizers.clear()   # noqa: SLF001 - bound to the test that left them
    if stale:
        warnings.warn(LeftoverFixtures(
            f"{item.nodeid}: fixtures {', '.join(sorted({d.argname for d in stale}))} still "
            "held the values of a test whose teardown stopped early; dropped, so this test "
            "gets its own"), stacklevel=1)
