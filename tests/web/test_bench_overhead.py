"""``python -m bench.overhead`` measures what it names: every route it times answers 200, every
connection it borrows is a real one, and the spans are timed at each ratio and without an SDK."""

from __future__ import annotations

import pytest

from bench.overhead import _checkout, _guards, _headers, _queries, _spans

WHAT = {"AsyncConnection", "pooled", "held connection (baseline)"}


@pytest.mark.stack
async def test_the_checkout_figures_come_from_statements_that_ran(database_url):
    got = await _checkout(database_url, 64)
    assert set(got) == WHAT and all(v > 0 for v in got.values())


async def test_the_header_figures_come_from_routes_that_answered():
    got = await _headers(64)   # a route that did not answer 200 raises
    assert set(got) == {"headers declared", "headers read", "bare route (baseline)"}


async def test_the_search_query_figures_come_from_routes_that_answered():
    got = await _queries(64)   # a route that did not answer 200 raises
    assert set(got) == {"search query declared", "search query read", "search query bare"}


async def test_the_guard_figures_come_from_routes_that_answered():
    got = await _guards(64)   # a route that did not answer 200 raises
    assert set(got) == {"guard's id and purpose declared", "guard's id and purpose read",
                        "guard's id and purpose bare"} and all(v > 0 for v in got.values())


def test_the_span_figures_are_for_each_ratio_and_the_no_op_floor():
    got = _spans(64)
    assert set(got) == {"two spans, trace ratio 1.0", "two spans, trace ratio 0.1",
                        "two spans, no SDK (baseline)"} and all(v > 0 for v in got.values())
