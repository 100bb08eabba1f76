"""A projection running in this process announces what each committed batch applied, so a
read-your-writes wait here asks the database again at once instead of at its next poll
(``libs/events/consistency.py``). In memory: no database, no broker."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import pytest

from libs.events.consistency import (Announcements, ConsistencyToken, NotCaughtUp,
                                     wait_until_applied)


async def test_a_waiter_is_woken_by_its_event_from_one_of_its_projections_only():
    here = Announcements()
    event, other = uuid4(), uuid4()
    with here.watch(event, ["journal_records", "access_facts"]) as woken:
        here.announce("medication_lists", [event])     # not a projection it waits for
        here.announce("journal_records", [other])      # not its event
        await asyncio.sleep(0)
        assert not woken.done()
        here.announce("access_facts", [other, event])
        await asyncio.sleep(0)
        assert woken.done()
        here.announce("access_facts", [event])         # again: harmless


async def test_two_waiters_on_one_event_are_both_woken_and_each_leaves_on_its_own():
    here = Announcements()
    event = uuid4()
    with here.watch(event, ["journal_records"]) as first:
        with here.watch(event, ["journal_records"]) as second:
            pass                                       # the second gave up (its timeout)
        here.announce("journal_records", [event])
        assert first.done() and not second.done()
    with here.watch(event, ["journal_records"]) as third:   # nothing left of the others
        assert not third.done()
        here.announce("journal_records", [event])
        assert third.done()


async def test_only_an_active_runner_counts_as_running_here():
    here = Announcements()
    assert not here.runs_here(["journal_records"])
    here.running("journal_records")
    here.running("journal_records")                    # a second runner (a test's replay)
    assert here.runs_here(["access_facts", "journal_records"])
    here.running("journal_records", active=False)
    assert here.runs_here(["journal_records"])
    here.running("journal_records", active=False)
    assert not here.runs_here(["journal_records"])


async def test_a_listener_here_makes_every_projection_announced_while_it_listens():
    here = Announcements()
    assert not here.announced_here(["journal_records"])
    here.listening()
    assert here.announced_here(["journal_records", "medication_lists"])
    here.listening(active=False)
    assert not here.announced_here(["journal_records"])


async def test_some_events_of_a_projection_wake_all_its_waiters_and_no_others():
    here = Announcements()
    with here.watch(uuid4(), ["journal_records"]) as mine, \
            here.watch(uuid4(), ["access_facts"]) as other:
        here.announce("journal_records", None)   # a batch too large to name its events
        assert mine.done() and not other.done()


async def test_a_probe_is_asked_instead_of_is_applied_and_its_answer_returned():
    answers, asked = iter([None, None, {"id": "o-1"}]), []

    async def probe():
        asked.append(1)
        return next(answers)

    token = ConsistencyToken(uuid4())
    found = await wait_until_applied(None, "journal_records", token, 30, probe=probe)
    assert found == {"id": "o-1"} and len(asked) == 3   # no engine: only the probe was asked

    async def never():
        return None

    with pytest.raises(NotCaughtUp):
        await wait_until_applied(None, "journal_records", token, 0.02, probe=never)


async def test_a_fresh_write_is_first_asked_about_once_its_batch_is_announced(monkeypatch):
    """A route that has just committed the write (``fresh``) does not ask at once what could
    only be "not yet": with its batches announced here, the probe waits for the event."""
    from libs.events import consistency

    monkeypatch.setattr(consistency, "POLL_S", 30.0)   # no poll can stand in for the news
    asked: list[int] = []
    token = ConsistencyToken(uuid4())

    async def probe():
        asked.append(1)
        return {"id": "o-1"}

    consistency.applied_here.listening()
    try:
        waiting = asyncio.create_task(wait_until_applied(
            None, "journal_records", token, 60, probe=probe, fresh=True))
        for _ in range(5):
            await asyncio.sleep(0)
        assert asked == [] and not waiting.done()
        consistency.applied_here.announce("journal_records", [token.event_id])
        assert await asyncio.wait_for(waiting, 5) == {"id": "o-1"}
        assert asked == [1]
    finally:
        consistency.applied_here.listening(active=False)


async def test_a_fresh_write_is_asked_about_at_once_when_nothing_here_announces(monkeypatch):
    from libs.events import consistency

    monkeypatch.setattr(consistency, "POLL_S", 30.0)
    token, asked = ConsistencyToken(uuid4()), []

    async def probe():
        asked.append(1)
        return {"id": "o-2"}

    assert not consistency.applied_here.announced_here(["journal_records"])
    found = await asyncio.wait_for(wait_until_applied(
        None, "journal_records", token, 60, probe=probe, fresh=True), 5)
    assert found == {"id": "o-2"} and asked == [1]


async def test_a_fresh_write_whose_announcement_is_lost_is_asked_about_after_a_poll(
        monkeypatch):
    from libs.events import consistency

    monkeypatch.setattr(consistency, "POLL_S", 0.01)
    token, asked = ConsistencyToken(uuid4()), []

    async def probe():
        asked.append(1)
        return {"id": "o-3"}

    consistency.applied_here.listening()
    try:
        found = await asyncio.wait_for(wait_until_applied(
            None, "journal_records", token, 60, probe=probe, fresh=True), 5)
    finally:
        consistency.applied_here.listening(active=False)
    assert found == {"id": "o-3"} and asked == [1]
