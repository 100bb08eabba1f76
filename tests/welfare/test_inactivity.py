""""No activity for N hours by day": pure (gaps by day in Norwegian time, the night not
counted, activity ends a gap, the rule off until set, ids from the gap), and on the real stack
with an injected clock: the clinician's limit through the API, the worker's timer raising the
task once the gap has passed the watermark, and once only after a SIGKILL (the person's state
read back from PostgreSQL alone)."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime, time, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from services.welfare import contract as ev
from services.welfare.domain import codes, intake
from services.welfare.domain.inactivity import DayConfig, Gap, gaps, is_activity
from services.welfare.domain.windows import State, limit_set, quiet, step
from tests.registry_export.support import coordinator_ready
from tests.support.waiting import passes
from tests.welfare.conftest import (MONITOR, Home, flag, observation, spawn_worker, stop,
                                   worker_log)
from tests.welfare.test_rules import CFG
from tests.welfare.test_windows import W

OSLO = ZoneInfo("Europe/Oslo")
PID = uuid4()
FAR = datetime(2100, 1, 1, tzinfo=UTC)


def oslo(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=OSLO).astimezone(UTC)


def watched(hours: float | None, at: datetime) -> State:
    return limit_set(State(), ev.InactivityLimitSet(hours=hours, by="9144889", unit="974600978",
                                                    set_at=at))


def reading(at: datetime, code: str | None = None, system: str = codes.ALERT_SYSTEM):
    body = (observation(str(PID), f"o-{at}", at=at) if code is None
            else flag(str(PID), f"f-{code}-{at}", code=code, severity=None, system=system, at=at))
    return intake.read(body, "dev", MONITOR, FAR, body["resourceType"])


def test_n_quiet_hours_by_day_make_one_follow_up_task_when_they_have_passed():
    state = watched(3, oslo(2, 8))
    state, _ = step(state, PID, reading(oslo(2, 9)), W, CFG, FAR)
    assert quiet(state, PID, oslo(2, 11, 59), CFG, FAR) == []
    tasks = quiet(state, PID, oslo(2, 12), CFG, FAR)
    assert [(t.kind, t.title, t.unit) for t in tasks] == [
        ("follow_up", "Ingen aktivitet på 3 timer (dag)", CFG.unit)]
    assert tasks[0].due_at == FAR + CFG.follow_up_within
    # decided again (another sweep, another worker): the same task, recorded once by its id
    assert quiet(state, PID, oslo(2, 13), CFG, FAR) == tasks


def test_the_night_does_not_count_and_each_quiet_day_is_its_own_gap():
    # last seen at 21:00: by 22:00 the day is over, the next day counts from 07:00
    assert gaps(oslo(2, 21), 3, oslo(3, 9, 59)) == []
    assert gaps(oslo(2, 21), 3, oslo(3, 10)) == [Gap(oslo(3, 7), oslo(3, 10))]
    # quiet for two whole days: one gap a day, told apart by their start
    two = gaps(oslo(2, 21), 3, oslo(4, 12))
    assert two == [Gap(oslo(3, 7), oslo(3, 10)), Gap(oslo(4, 7), oslo(4, 10))]
    assert two[0].task_id(PID) != two[1].task_id(PID)
    # a limit that does not fit in what is left of the day fires nothing that day
    assert gaps(oslo(2, 20), 3, oslo(2, 23)) == []


def test_the_day_is_norwegian_time_across_the_change_to_summer_time():
    # 29 March 2026: 07:00 in Oslo is 05:00 UTC, the day before 06:00 UTC
    assert gaps(oslo(28, 6), 2, oslo(29, 9))[-1].start == datetime(2026, 3, 29, 5, tzinfo=UTC)
    assert gaps(oslo(27, 23), 2, oslo(28, 9))[0].start == datetime(2026, 3, 28, 6, tzinfo=UTC)
    assert gaps(oslo(2, 6), 2, oslo(2, 10), DayConfig(day_from=time(9))) == []


def test_activity_ends_a_gap_and_absence_reports_do_not():
    state = watched(3, oslo(2, 8))
    for absent in (reading(oslo(2, 9), "2.2", codes.DHO_SYSTEM), reading(oslo(2, 9), "3.3"),
                   reading(oslo(2, 9, 30), "4.9")):
        assert not is_activity(absent)
        state, _ = step(state, PID, absent, W, CFG, FAR)
    assert [t.task_id for t in quiet(state, PID, oslo(2, 11), CFG, FAR)] == [
        Gap(oslo(2, 8), oslo(2, 11)).task_id(PID)]
    for active, before_end in ((reading(oslo(2, 10)), oslo(2, 12, 59)),
                               (reading(oslo(2, 10, 30), "4.8"), oslo(2, 13, 29))):
        state, _ = step(state, PID, active, W, CFG, FAR)
        assert quiet(state, PID, before_end, CFG, FAR) == []
    # a late reading (older than the newest activity) does not move the gap back
    state, _ = step(state, PID, reading(oslo(2, 9, 45)), W, CFG, FAR)
    assert [t.task_id for t in quiet(state, PID, oslo(2, 14), CFG, FAR)] == [
        Gap(oslo(2, 10, 30), oslo(2, 13, 30)).task_id(PID)]


def test_the_rule_is_off_until_a_limit_is_set_and_after_it_is_turned_off():
    state, _ = step(State(), PID, reading(oslo(2, 8)), W, CFG, FAR)
    assert quiet(state, PID, oslo(5, 12), CFG, FAR) == []
    state = limit_set(state, ev.InactivityLimitSet(hours=2, by="9144889", unit="974600978",
                                                   set_at=oslo(2, 9)))
    assert len(quiet(state, PID, oslo(2, 12), CFG, FAR)) == 1
    off = limit_set(state, ev.InactivityLimitSet(hours=None, by="9144889", unit="974600978",
                                                 set_at=oslo(2, 13)))
    assert quiet(off, PID, oslo(5, 12), CFG, FAR) == []


# --- on the real stack -------------------------------------------------------------------

async def _rows(home: Home, patient: str) -> tuple[int, list[dict]]:
    async with home.engine.connect() as conn:
        done = (await conn.execute(text("SELECT count(*) FROM welfare_rules_done"))).scalar_one()
        rows = (await conn.execute(text("""
            SELECT envelope->'data' FROM events WHERE type = 'welfare.TaskCreated'
               AND stream_id = :s ORDER BY position"""), {"s": f"welfare-{patient}"})).scalars()
        return done, list(rows)


@pytest.mark.fault
async def test_a_quiet_day_raises_one_task_once_across_a_sigkill(
        home: Home, database_url, kafka_bootstrap, unique, tmp_path):
    patient = await home.ready("tablet-q", MONITOR)
    tablet = home.device("tablet-q")
    # two days from now, in Norwegian time: the app's and the worker's clock
    day = (datetime.now(OSLO) + timedelta(days=2)).date()

    def at(hour: int, minute: int = 0, days: int = 0) -> datetime:
        return datetime.combine(day + timedelta(days=days), time(hour, minute), OSLO)

    home.clock.set(at(8))
    r = await home.api.post(f"/patients/{patient}/inactivity", headers=home.c.nurse(),
                            json={"hours": 3})
    assert r.status_code == 200, r.text
    assert (await home.api.post(f"/patients/{patient}/inactivity", headers=home.c.nurse(),
                                json={"hours": 0.5})).status_code == 422
    home.clock.set(at(9))
    r = await home.api.post("/ingest/Observation", headers=tablet,
                            json=observation(patient, "q-1", at=at(8, 30)))
    assert r.status_code == 201, r.text

    app_id = f"welfare-{unique}"
    await coordinator_ready(kafka_bootstrap, app_id)
    logs = tmp_path / "w1"
    worker = spawn_worker(home, database_url, kafka_bootstrap, app_id, logs,
                          clock=home.clock.path)
    try:
        async def reading_taken() -> None:
            assert (await _rows(home, patient))[0] == 1
        await passes(reading_taken, 120, 0.2)
        # the gap 08:30-11:30 has passed the watermark (the clock less 60 min lateness)
        home.clock.set(at(12, 31))

        async def first() -> None:
            assert [t["title"] for t in (await _rows(home, patient))[1]] == [
                "Ingen aktivitet på 3 timer (dag)"]
        await passes(first, 60, 0.2)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        # the next day, quiet from 07:00 to 10:00 (+ lateness); a new worker, no local files
        home.clock.set(at(11, 1, days=1))
        logs = tmp_path / "w2"
        worker = spawn_worker(home, database_url, kafka_bootstrap, app_id, logs,
                              clock=home.clock.path)

        async def second() -> None:
            assert len((await _rows(home, patient))[1]) == 2
        await passes(second, 120, 0.2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- worker log ---\n{worker_log(logs)}") from exc
    finally:
        stop(worker)
    tasks = (await _rows(home, patient))[1]
    assert len({t["task_id"] for t in tasks}) == 2
    # each due a follow-up period after the injected clock's time it was raised
    assert [datetime.fromisoformat(t["due_at"]) for t in tasks] == [
        at(12, 31) + CFG.follow_up_within, at(11, 1, days=1) + CFG.follow_up_within]

    async def on_the_nurses_list() -> None:   # the service's read model, from Kafka
        shown = await home.tasks(patient)
        assert sorted(t["title"] for t in shown) == ["Ingen aktivitet på 3 timer (dag)"] * 2
    await passes(on_the_nurses_list, 60, 0.2)
