"""The alert rules decide a batch at once: the pure fold (``domain/batch.py``) gives what
deciding the readings one by one gives, a reading it cannot decide is left out without sinking
the batch; and ``Intake.rule_batch`` on a real PostgreSQL records a batch once, in one
transaction, releases an undecidable reading's claim, and two workers deciding overlapping
batches in opposite orders neither deadlock nor record anything twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from sqlalchemy import text

from libs.events.envelope import Actor
from libs.events.store import EventStore
from services.welfare.domain import batch, intake, rules, windows
from services.welfare.store import Intake
from services.welfare.worker import registry
from tests.welfare.conftest import flag, observation
from tests.welfare.test_rules import CFG

A, B = sorted([uuid4(), uuid4()])
T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
FAR = datetime(2100, 1, 1, tzinfo=UTC)
W = windows.WindowConfig()
WORKER = Actor(kind="system", id="welfare-alerts")


def low(patient: UUID, n: int, value: float = 89) -> batch.Item:
    at = T0 + timedelta(minutes=10 * n)
    return batch.Item(patient, reading=intake.read(
        observation(str(patient), f"o-{n}", value=value, at=at), f"tablet-{patient}", "dho",
        FAR, "Observation"))


def fall(patient: UUID, n: int) -> batch.Item:
    return batch.Item(patient, reading=intake.read(
        flag(str(patient), f"f-{n}", code="4.1", severity=None, at=T0), f"alarm-{patient}",
        "alarm", FAR, "Flag"))


def broken(patient: UUID, n: int) -> batch.Item:
    """An SpO2 reading without a value: the window rule cannot read it (a defect upstream)."""
    item = low(patient, n)
    return batch.Item(patient, reading=item.reading.model_copy(update={"components": []}))


def fold(items, held=None, fresh=None) -> batch.Decided:
    return batch.fold(items, held or {}, fresh or [True] * len(items), CFG, W, T0)


def one_by_one(items) -> tuple[dict[UUID, windows.State], dict[UUID, list]]:
    states, out = {}, {}
    for item in items:
        pid = item.patient_id
        state = states.get(pid, windows.State())
        now_alerts = rules.decide(item.reading, CFG, T0)
        states[pid], fired = windows.step(state, pid, item.reading, W, CFG, T0)
        if now_alerts or fired:
            out.setdefault(pid, []).extend([*now_alerts, *fired])
    return states, out


def test_a_batch_decides_what_its_readings_decide_one_by_one():
    items = [low(A, 1), fall(B, 1), low(A, 2), low(B, 2), low(A, 3), low(B, 3, value=97)]
    decided = fold(items)
    states, out = one_by_one(items)
    assert decided.outputs == out
    assert decided.windows == {p: s.model_dump(mode="json") for p, s in states.items()}
    assert [t.title for t in decided.outputs[A]] == ["SpO2 under 92 % i 3 målinger"]
    assert [type(e).__name__ for e in decided.outputs[B]] == ["AlertRaised", "TaskCreated"]
    assert decided.undecidable == {}


def test_what_was_decided_before_changes_nothing_and_a_limit_is_kept():
    first = fold([low(A, 1), low(A, 2)])
    limit = batch.Item(A, limit=_limit(A, 4.0))
    again = fold([low(A, 2), limit, low(A, 3)], held=first.windows, fresh=[False, True, True])
    assert [t.title for t in again.outputs[A]] == ["SpO2 under 92 % i 3 målinger"]
    assert windows.State.of(again.windows[A]).inactivity_h == 4.0
    stale = fold([low(A, 3)], held=again.windows, fresh=[False])
    assert stale.outputs == {} and stale.windows == again.windows


def test_an_undecidable_reading_is_left_out_and_the_batch_goes_on():
    items = [low(A, 1), broken(A, 2), low(A, 3), fall(B, 1), low(A, 4)]
    decided = fold(items)
    assert list(decided.undecidable) == [1]
    assert "IndexError" in decided.undecidable[1]
    # the person's windows as if the broken reading never came: three lows fire
    assert [t.title for t in decided.outputs[A]] == ["SpO2 under 92 % i 3 målinger"]
    assert len(decided.outputs[B]) == 2
    assert decided.windows == fold([low(A, 1), low(A, 3), fall(B, 1), low(A, 4)]).windows


def _limit(patient: UUID, hours: float):
    from services.welfare.contract import InactivityLimitSet   # noqa: PLC0415
    return InactivityLimitSet(hours=hours, by="9144889", unit="974600978", set_at=T0)


async def _recorded(engine) -> tuple[Counter, set[UUID], dict[UUID, dict]]:
    async with engine.connect() as conn:
        types = Counter(r[0] for r in await conn.execute(text(
            "SELECT type FROM events WHERE type LIKE 'welfare.%'")))
        done = {r[0] for r in await conn.execute(text("SELECT reading_id FROM welfare_rules_done"))}
        held = {r[0]: r[1] for r in await conn.execute(text(
            "SELECT patient_id, state FROM welfare_windows"))}
    return types, done, held


def _run(items):
    return lambda held, fresh: batch.fold(items, held, fresh, CFG, W, T0)


async def test_a_batch_is_recorded_once_and_its_poison_is_released(engine):
    store = Intake(engine, EventStore(engine, registry()))
    await store.setup()
    items = [low(A, 1), fall(B, 1), broken(A, 9), low(A, 2), fall(B, 1), low(A, 3)]
    decided = await store.rule_batch(items, _run(items), WORKER)
    assert list(decided.undecidable) == [2]
    types, done, held = await _recorded(engine)
    assert types == {"welfare.AlertRaised": 1, "welfare.TaskCreated": 2}
    assert done == {i.reading_id for n, i in enumerate(items) if n != 2}
    assert held == decided.windows
    # the same batch seen again (a worker killed before its acknowledgement): nothing new,
    # and the broken reading, not claimed, is undecidable again (for the DLQ)
    again = await store.rule_batch(items, _run(items), WORKER)
    assert list(again.undecidable) == [2] and again.outputs == {}
    assert await _recorded(engine) == (types, done, held)


async def test_two_workers_with_overlapping_batches_record_each_reading_once(engine):
    """A partition moving between workers: both decide the same readings at once, in opposite
    orders; the locks are taken in one order, so neither deadlocks."""
    store = Intake(engine, EventStore(engine, registry()))
    await store.setup()
    people = sorted(uuid4() for _ in range(6))
    items = [fall(p, n) for n in range(3) for p in people]
    mine, theirs = items, list(reversed(items))
    await asyncio.wait_for(asyncio.gather(
        store.rule_batch(mine, _run(mine), WORKER),
        store.rule_batch(theirs, _run(theirs), WORKER)), 60)
    types, done, held = await _recorded(engine)
    assert types == {"welfare.AlertRaised": 18, "welfare.TaskCreated": 18}
    assert done == {i.reading_id for i in items}
    assert set(held) == set(people)
