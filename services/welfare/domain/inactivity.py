""""No activity for N hours by day" (issue 15), pure: the windowed rule that fires on readings
that never come.

**Activity** is any usable reading of the person from any of their devices (a measurement, an
event or an alarm), except the ones that say something did *not* happen: a measurement not
reported (2.2), a missed dose (3.3, 3.7) and a device's own 4.9 "Inaktivitet". A clinician sets
N per person (``welfare.InactivityLimitSet``, ``POST /patients/{id}/inactivity``; off until
set, ``hours: null`` turns it off again).

**By day** is ``day_from``-``day_to`` (07:00-22:00) Norwegian time. A person's quiet time by day
starts at the later of their last activity, the time the limit was set and the start of that
day, so a night's sleep never counts; it ends with the day. A quiet stretch of N hours in one
day is a **gap**: one follow-up task, whose id follows from the person and the gap's start, so
the same gap decided again (after a crash, or by a second worker) is recorded once (the write
side claims that id).

**Event time.** Nothing arrives to move the person's own watermark, so the sweep takes the
clock (injectable) less the allowed lateness as its watermark: a gap fires only when it has
passed by that watermark, so any reading that happened inside it and came within the lateness
was folded first and ended the gap instead. A reading later than that is recorded (the
ingestion wrote it) but cannot unsay a task already raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo

from services.welfare import contract as ev
from services.welfare.domain import codes
from services.welfare.domain.rules import RULE_NAMESPACE, RuleConfig

OSLO = ZoneInfo("Europe/Oslo")
NOT_ACTIVITY = codes.MISSED_DOSE | {codes.NOT_REPORTED, (codes.ALERT_SYSTEM, "4.9")}
RULE = "inactivity"


@dataclass(frozen=True)
class DayConfig:
    day_from: time = time(7, 0)
    day_to: time = time(22, 0)


@dataclass(frozen=True)
class Gap:
    start: datetime
    end: datetime      # start + N hours, when the task is due to be raised

    def task_id(self, patient_id: UUID) -> UUID:
        return uuid5(RULE_NAMESPACE, f"{patient_id}:{RULE}/{self.start.isoformat()}")


def is_activity(reading: ev.AnyReading) -> bool:
    if isinstance(reading, ev.Measurement):
        return True
    return (reading.system, reading.code) not in NOT_ACTIVITY


def _day(day, at: time) -> datetime:
    return datetime.combine(day, at, OSLO).astimezone(UTC)


def gaps(since: datetime, hours: float, watermark: datetime,
         cfg: DayConfig = DayConfig()) -> list[Gap]:
    """The gaps of ``hours`` quiet hours by day after ``since`` (the last activity, or when the
    limit was set) that have passed by ``watermark``: at most one per day, for the day of
    ``since`` or the day before the watermark's, whichever is later, up to the watermark's."""
    limit = timedelta(hours=hours)
    last = watermark.astimezone(OSLO).date()
    day = max(since.astimezone(OSLO).date(), last - timedelta(days=1))
    found = []
    while day <= last:
        start = max(_day(day, cfg.day_from), since)
        if start + limit <= min(_day(day, cfg.day_to), watermark):
            found.append(Gap(start, start + limit))
        day += timedelta(days=1)
    return found


def task(patient_id: UUID, hours: float, gap: Gap, rules: RuleConfig,
         now: datetime) -> ev.TaskCreated:
    return ev.TaskCreated(task_id=gap.task_id(patient_id), kind="follow_up",
                          title=f"Ingen aktivitet på {hours:g} timer (dag)", unit=rules.unit,
                          due_at=now + rules.follow_up_within, created_at=now)
