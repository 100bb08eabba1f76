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
