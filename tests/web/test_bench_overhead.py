"""``python -m bench.overhead`` measures what it names: every route it times answers 200, and
every connection it borrows goes back to the pool."""

from __future__ import annotations

import pytest

from bench.overhead import _checkout, _headers

WHAT = {"AsyncConnection", "pooled", "held connection (baseline)"}


@pytest.mark.stack
async def test_the_checkout_figures_come_from_statements_that_ran(database_url):
    got = await _checkout(database_url, 64)
    assert set(got) == WHAT and all(v > 0 for v in got.values())


async def test_the_header_figures_come_from_routes_that_answered():
    got = await _headers(64)   # a route that did not answer 200 raises
    assert set(got) == {"headers declared", "headers read", "bare route (baseline)"}
