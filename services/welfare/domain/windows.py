"""The alert rules that need memory (issue 15), pure: windows in event time over one person's
readings, with an allowed lateness.

- **Repeated low SpO2**: ``spo2_count`` (3) SpO2 readings below ``spo2_low`` (92 %, where
  NEWS2 scale 1 gives 3 points) in one tumbling window of ``spo2_window`` (6 h, aligned to
  midnight UTC) -> one **follow-up task** for the window. A task, not an alert: a value low
  enough to be an emergency is already a red alert through the thresholds a clinician set
  (``rules.py``); three moderately low values over hours are a trend for the nurse to look at.
- **Door opened at night**: a VKP 4.15 "Dør åpnet" between ``night_from`` and ``night_to``
  (23:00-06:00, Norwegian time) -> one follow-up task for the night, however often the door
  opens in it.

"No activity for N hours by day" fires on the absence of readings (``inactivity.py``): the
person's state keeps when they were last active and their limit, and the worker's timer asks
:func:`quiet` which gaps have passed.

**Event time and lateness.** A person's watermark is the latest ``effective_at`` of their
readings the worker has seen. A window closes when the watermark passes its end plus
``lateness``, and is then evicted, so a person's state holds only open windows. A reading
whose window has closed is late: it stays recorded (the ingestion wrote it), but no window
counts it. A reading that arrives within the lateness counts wherever it falls in its window,
so the order in which such readings arrive does not change what fires.

**Once.** A window remembers the readings it counted (ids only: no values, no personal data)
and whether it fired; a reading seen again (the worker is at-least-once) changes nothing, and
the task's id follows from the person, the rule and the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from libs.events.registry import EventPayload
from services.welfare import contract as ev
from services.welfare.domain import codes, inactivity
from services.welfare.domain.rules import RULE_NAMESPACE, RuleConfig

OSLO = ZoneInfo("Europe/Oslo")
DOOR_OPENED = (codes.ALERT_SYSTEM, "4.15")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class WindowConfig:
    lateness: timedelta = timedelta(minutes=60)
    spo2_low: float = 92.0
    spo2_count: int = 3
    spo2_window: timedelta = timedelta(hours=6)
    night_from: time = time(23, 0)
    night_to: time = time(6, 0)


class Open(BaseModel):
    """An open window: when it ends, the readings it counted, whether it fired."""

    model_config = ConfigDict(frozen=True)
    end: datetime
    ids: tuple[UUID, ...] = ()
    fired: bool = False


class State(BaseModel):
    """One person's windows (the worker's table value, keyed by the internal patient id)."""

    model_config = ConfigDict(frozen=True)
    watermark: datetime | None = None
    windows: dict[str, Open] = {}
    late: int = 0   # readings that came after their window closed
    active_at: datetime | None = None       # the newest activity (inactivity.py)
    inactivity_h: float | None = None       # the person's N, None: the rule is off
    watch_from: datetime | None = None      # when N was set

    @classmethod
    def of(cls, value: dict | None) -> State:
        return cls.model_validate(value) if value else cls()


@dataclass(frozen=True)
class Window:
    rule: str
    start: datetime
    end: datetime
    title: str

    @property
    def key(self) -> str:
        return f"{self.rule}/{self.start.isoformat()}"


def _spo2_window(at: datetime, cfg: WindowConfig) -> Window:
    size = cfg.spo2_window
    start = EPOCH + ((at - EPOCH) // size) * size
    return Window("spo2-low", start, start + size,
                  f"SpO2 under {cfg.spo2_low:g} % i {cfg.spo2_count} målinger")


def _night(at: datetime, cfg: WindowConfig) -> Window | None:
    local = at.astimezone(OSLO)
    if cfg.night_to <= local.time() < cfg.night_from:
        return None
    day = local.date() - timedelta(days=1 if local.time() < cfg.night_to else 0)
    start = datetime.combine(day, cfg.night_from, OSLO)
    end = datetime.combine(day + timedelta(days=1), cfg.night_to, OSLO)
    return Window("door-night", start.astimezone(UTC), end.astimezone(UTC),
                  "Dør åpnet om natten")


def windows_of(reading: ev.AnyReading, cfg: WindowConfig) -> list[Window]:
    """The windows a reading counts in."""
    if isinstance(reading, ev.Measurement):
        low = (reading.code == codes.SPO2
               and reading.components[0].value < cfg.spo2_low)
        return [_spo2_window(reading.effective_at, cfg)] if low else []
    if (reading.system, reading.code) == DOOR_OPENED:
        night = _night(reading.effective_at, cfg)
        return [night] if night else []
    return []


def _closed(end: datetime, watermark: datetime | None, cfg: WindowConfig) -> bool:
    return watermark is not None and end + cfg.lateness <= watermark


def _needed(rule: str, cfg: WindowConfig) -> int:
    return cfg.spo2_count if rule == "spo2-low" else 1


def task_id(patient_id: UUID, w: Window) -> UUID:
    return uuid5(RULE_NAMESPACE, f"{patient_id}:{w.key}")


def step(state: State, patient_id: UUID, reading: ev.AnyReading, cfg: WindowConfig,
         rules: RuleConfig, now: datetime) -> tuple[State, list[EventPayload]]:
    """Take one reading: the person's windows after it, and the tasks it fires."""
    windows = dict(state.windows)
    out: list[EventPayload] = []
    late = 0
    for w in windows_of(reading, cfg):
        if _closed(w.end, state.watermark, cfg):
            late = 1
            continue
        have = windows.get(w.key, Open(end=w.end))
        if reading.reading_id in have.ids:
            continue
        ids = have.ids + (reading.reading_id,)
        fires = not have.fired and len(ids) >= _needed(w.rule, cfg)
        windows[w.key] = Open(end=w.end, ids=ids, fired=have.fired or fires)
        if fires:
            out.append(ev.TaskCreated(
                task_id=task_id(patient_id, w), kind="follow_up", title=w.title,
                unit=rules.unit, due_at=now + rules.follow_up_within, reading_ids=list(ids),
                created_at=now))
    marks = [t for t in (state.watermark, reading.effective_at) if t is not None]
    watermark = max(marks)
    windows = {k: o for k, o in windows.items() if not _closed(o.end, watermark, cfg)}
    active = state.active_at
    if inactivity.is_activity(reading):
        active = max(t for t in (active, reading.effective_at) if t is not None)
    return state.model_copy(update={"watermark": watermark, "windows": windows,
                                    "late": state.late + late, "active_at": active}), out


def limit_set(state: State, e: ev.InactivityLimitSet) -> State:
    """The person's "no activity for N hours by day" limit, watched from when it was set."""
    return state.model_copy(update={"inactivity_h": e.hours, "watch_from": e.set_at})


def quiet(state: State, patient_id: UUID, watermark: datetime, rules: RuleConfig,
          now: datetime, day: inactivity.DayConfig = inactivity.DayConfig(),
          ) -> list[ev.TaskCreated]:
    """The follow-up tasks for the person's quiet gaps by day that have passed by
    ``watermark`` (the clock less the allowed lateness); none while the rule is off."""
    if state.inactivity_h is None or state.watch_from is None:
        return []
    since = max(t for t in (state.active_at, state.watch_from) if t is not None)
    return [inactivity.task(patient_id, state.inactivity_h, gap, rules, now)
            for gap in inactivity.gaps(since, state.inactivity_h, watermark, day)]
