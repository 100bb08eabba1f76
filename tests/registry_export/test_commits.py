"""The worker's group commit (``worker.Commits``), no I/O: batches taken while a commit runs are
committed together next, in the order they came, nothing twice and nothing left out; the agent
waits when too much waits; a failing commit is raised to the agent."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from services.registry_export.worker import Commits
from tests.support.waiting import eventually


async def test_batches_taken_during_a_commit_go_together_into_the_next_in_order():
    committed: list[list[int]] = []
    first_started, release = asyncio.Event(), asyncio.Event()

    async def commit(events, todo):
        assert events == todo   # the events and what they decoded to travel together
        committed.append(list(events))
        first_started.set()
        await release.wait()

    commits = Commits(commit, most=100)
    committing = asyncio.ensure_future(commits.run())
    try:
        await commits.add([1, 2], [1, 2], committing)
        await first_started.wait()              # [1, 2] is being committed
        for batch in ([3], [4, 5], [6]):
            await commits.add(batch, batch, committing)
        release.set()
        await eventually(lambda: sum(map(len, committed)) >= 6, 10, 0.001)
        assert committed == [[1, 2], [3, 4, 5, 6]]
    finally:
        committing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await committing


async def test_the_agent_waits_while_too_much_waits_and_hears_of_a_failed_commit():
    release = asyncio.Event()

    async def commit(events, todo):
        await release.wait()
        raise RuntimeError("the database is gone for good")

    commits = Commits(commit, most=3)
    committing = asyncio.ensure_future(commits.run())
    await commits.add([1], [1], committing)
    await eventually(lambda: not commits.events, 10, 0.001)   # the committer took [1]
    adding = asyncio.ensure_future(commits.add([2, 3, 4], [2, 3, 4], committing))
    await asyncio.sleep(0)
    assert not adding.done()                     # three wait: the agent waits too
    release.set()
    with pytest.raises(RuntimeError, match="gone for good"):
        await adding
