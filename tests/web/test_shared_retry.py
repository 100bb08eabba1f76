"""The one retry a write runs when another writer moved the stream first (``retried``, shared by
``StreamStore.execute`` and the idempotent write in ``libs/web/idempotency.py``): without an
``If-Match`` the command is decided again, a bounded number of times; with one, the client is
told the version it missed (412) and nothing is tried again. Pure: no I/O."""

from __future__ import annotations

import pytest

from libs.events.ports import ConcurrencyError
from libs.events.streams import RETRIES, retried
from libs.kernel.errors import PreconditionFailed


def _losing(times: int, answer: str = "appended"):
    """An attempt that loses to another writer ``times`` times, then appends."""
    calls: list[int] = []

    async def attempt() -> str:
        calls.append(len(calls) + 1)
        if len(calls) <= times:
            raise ConcurrencyError("journal-p", len(calls), len(calls) + 1)
        return answer
    return attempt, calls


async def test_without_if_match_a_lost_race_is_decided_again():
    attempt, calls = _losing(2)
    assert await retried(attempt, None) == "appended"
    assert calls == [1, 2, 3]


async def test_with_if_match_a_lost_race_names_the_version_now_and_is_not_retried():
    attempt, calls = _losing(1)
    with pytest.raises(PreconditionFailed) as failed:
        await retried(attempt, 1)
    assert (failed.value.current, calls) == (2, [1])


async def test_the_caller_words_the_412():
    attempt, _ = _losing(1)

    def stale(now: int) -> PreconditionFailed:
        return PreconditionFailed(now, f"The list is at version {now}.")
    with pytest.raises(PreconditionFailed, match="The list is at version 2."):
        await retried(attempt, 7, stale)


async def test_a_stream_that_keeps_moving_gives_up_after_the_bounded_retries():
    attempt, calls = _losing(RETRIES + 3)
    with pytest.raises(ConcurrencyError):
        await retried(attempt, None)
    assert len(calls) == RETRIES
