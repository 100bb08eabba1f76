"""The windowed alert rules (pure): repeated low SpO2 and a door opened at night, in event time
with an allowed lateness; windows evicted; a reading after its window closed recorded but not
counted; the order of arrival within the lateness changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from services.welfare import contract as ev
from services.welfare.domain import intake
from services.welfare.domain.windows import State, WindowConfig, step
from tests.welfare.test_rules import CFG
from tests.welfare.conftest import flag, observation

PID = uuid4()
T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)        # a 6-hour SpO2 window starts here
FAR = datetime(2100, 1, 1, tzinfo=UTC)               # "now" for reading the resources
W = WindowConfig(lateness=timedelta(minutes=60))


def spo2(n: int, at: datetime, value: float = 90) -> ev.Measurement:
    return intake.read(observation(str(PID), f"o-{n}", value=value, at=at), "tablet", "dho",
                       FAR, "Observation")


def door(n: int, at: datetime) -> ev.DeviceEvent:
    return intake.read(flag(str(PID), f"d-{n}", code="4.15", severity=1, at=at), "alarm",
                       "trygghetsalarm", FAR, "Flag")


def run(readings, state: State | None = None) -> tuple[State, list]:
    state, out = state or State(), []
    for r in readings:
        state, fired = step(state, PID, r, W, CFG, T0)
        out += fired
    return state, out


def test_three_low_spo2_in_the_window_make_one_follow_up_task():
    state, out = run([spo2(1, T0), spo2(2, T0 + timedelta(hours=1)),
                      spo2(3, T0 + timedelta(hours=2))])
    assert [(t.kind, t.title) for t in out] == [("follow_up",
                                                 "SpO2 under 92 % i 3 målinger")]
    assert out[0].reading_ids == [r.reading_id for r in (spo2(1, T0),
                                                         spo2(2, T0 + timedelta(hours=1)),
                                                         spo2(3, T0 + timedelta(hours=2)))]
    # a fourth low value in the same window, and the third seen again, fire nothing
    _, more = run([spo2(4, T0 + timedelta(hours=3)), spo2(3, T0 + timedelta(hours=2))], state)
    assert more == []


def test_two_low_values_or_normal_values_fire_nothing():
    _, out = run([spo2(1, T0), spo2(2, T0 + timedelta(hours=1), value=95),
                  spo2(3, T0 + timedelta(hours=2)), spo2(4, T0 + timedelta(hours=3), 92)])
    assert out == []


def test_lows_in_different_windows_do_not_add_up():
    _, out = run([spo2(1, T0 - timedelta(minutes=10)), spo2(2, T0 + timedelta(minutes=10)),
                  spo2(3, T0 + timedelta(minutes=20))])
    assert out == []


def test_a_late_reading_within_the_lateness_counts_one_after_it_does_not():
    # the window [06:00, 12:00) closes when the watermark reaches 13:00
    two = [spo2(1, T0), spo2(2, T0 + timedelta(hours=1))]
    state, _ = run([*two, spo2(9, T0 + timedelta(hours=6, minutes=59), value=97)])
    within, out = run([spo2(3, T0 + timedelta(hours=5))], state)
    assert len(out) == 1 and within.late == 0
    state, _ = run([*two, spo2(9, T0 + timedelta(hours=7), value=97)])
    after, out = run([spo2(3, T0 + timedelta(hours=5))], state)
    assert out == [] and after.late == 1


def test_windows_are_evicted_so_the_state_stays_small():
    readings = [spo2(n, T0 + timedelta(minutes=20 * n), value=90 if n % 2 else 97)
                for n in range(3 * 24 * 10)]          # ten days, every 20 minutes
    state, out = run(readings)
    assert len(out) == 40                              # four 6-hour windows a day
    assert len(state.windows) <= 1
    assert State.of(state.model_dump(mode="json")) == state   # what the table keeps


def test_a_door_opened_at_night_makes_one_task_a_night():
    night = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)   # 23:30 in Oslo (winter time)
    _, out = run([door(1, night), door(2, night + timedelta(hours=2)),
                  door(3, night + timedelta(hours=5, minutes=29))])   # 06:59: morning
    assert [(t.kind, t.title) for t in out] == [("follow_up", "Dør åpnet om natten")]
    _, out = run([door(4, datetime(2026, 3, 2, 15, 0, tzinfo=UTC))])  # afternoon
    assert out == []
    _, out = run([door(5, datetime(2026, 3, 3, 1, 0, tzinfo=UTC))])   # the next night
    assert len(out) == 1


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 24 * 60 - 1), st.booleans(), st.integers(0, 59)),
                min_size=1, max_size=25))
def test_order_of_arrival_within_the_lateness_does_not_change_what_fires(rows):
    """Each reading arrives up to 59 minutes (under the 60 of lateness) after it happened,
    in arrival order: the same tasks fire as when they come in event time."""
    readings = [(spo2(n, T0 + timedelta(minutes=m), value=90 if low else 96),
                 T0 + timedelta(minutes=m + delay))
                for n, (m, low, delay) in enumerate(rows)]
    in_time = sorted(readings, key=lambda r: (r[0].effective_at, r[0].reading_id))
    as_arrived = sorted(readings, key=lambda r: r[1])
    fired = {t.task_id for t in run(r for r, _ in in_time)[1]}
    assert {t.task_id for t in run(r for r, _ in as_arrived)[1]} == fired
    lows: dict[int, int] = {}
    for m, low, _ in rows:
        lows[m // 360] = lows.get(m // 360, 0) + (1 if low else 0)
    assert len(fired) == sum(1 for n in lows.values() if n >= 3)
    assert run(r for r, _ in as_arrived)[0].late == 0
