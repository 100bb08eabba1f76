"""A test whose teardown stops early does not hand its fixtures to the tests after it
(``tests/support/isolation.py``): an inner pytest session, where a fixture's teardown raises
``asyncio.CancelledError`` as an async fixture's may, and the tests after it ask for
``unique`` as ours do."""

from __future__ import annotations

import pytest

INNER = '''
import asyncio
import itertools

import pytest

made = itertools.count()
seen = []


@pytest.fixture
def unique():
    return next(made)


@pytest.fixture
def breaks():
    yield
    raise asyncio.CancelledError   # out of a teardown: pytest stops running finalizers


def test_one(unique, breaks):
    seen.append(unique)


def test_two(unique):
    seen.append(unique)


def test_three(unique):
    seen.append(unique)
    assert seen == [0, 1, 2]
'''


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_inner=INNER)
    return pytester


def test_the_tests_after_a_broken_teardown_get_their_own_fixtures(inner: pytest.Pytester):
    result = inner.runpytest_inprocess("-p", "tests.support.isolation", "-p",
                                       "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=1, warnings=1)   # the error: test_one's teardown
    result.stdout.fnmatch_lines(["*test_two: fixtures unique still held the values*"])


def test_without_it_every_later_test_shares_the_first_ones(inner: pytest.Pytester):
    """Why the plugin is there (pytest 9.2): should this fail, pytest finishes fixtures after
    a teardown's BaseException itself, and the plugin can go."""
    result = inner.runpytest_inprocess("-p", "no:tests.support.isolation", "-p",
                                       "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1, errors=1)
    result.stdout.fnmatch_lines(["*assert [[]0, 0, 0[]] == [[]0, 1, 2[]]*"])
