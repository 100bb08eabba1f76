"""The alert rules that need no memory (requirements 45 and 48), pure: one accepted reading in,
the alert and tasks it calls for out. Every id follows from the reading and the rule, so a
reading processed twice (the stream processor is at-least-once) decides the same events, which
the write side then records once.

- red (severity 3, or a red VKP alarm: 4.1 fall, 4.11 fire, 4.13 button, 4.14 cord, 3.12
  break-in): ``AlertRaised`` and a response task for the responsible home-care unit, due within
  the SLA;
- a missed dose (3.3 no confirmation, 3.7 not dispensed) or a measurement not reported (2.2):
  a follow-up task;
- any other yellow (severity 2) event: a follow-up task;
- a measurement outside the thresholds a clinician set for the person (requirement 47): yellow
  a follow-up task, red an alert and a response task;
- green and not-reported (1, 0): nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid5

from libs.events.registry import EventPayload
from services.welfare import contract as ev
from services.welfare.domain import codes

RULE_NAMESPACE = UUID("c4a7e0d2-9b13-4f0e-8d5a-61e2f3b4a5c6")


@dataclass(frozen=True)
class RuleConfig:
    unit: str                     # the responsible home-care unit
    response_sla: timedelta       # a red alarm is answered within this
    follow_up_within: timedelta   # a follow-up task is due within this


def derived(reading_id: UUID, rule: str) -> UUID:
    return uuid5(RULE_NAMESPACE, f"{reading_id}:{rule}")


def reading_of(payload: EventPayload) -> ev.AnyReading | None:
    """The reading an event makes usable: accepted at once, or released from quarantine."""
    match payload:
        case ev.MeasurementReceived() | ev.DeviceEventReceived() | ev.QuarantineReleased():
            return payload.reading
    return None


def _display(r: ev.DeviceEvent) -> str:
    known = codes.EVENT_CODES.get((r.system, r.code))
    return known.display if known else r.code


def _task(r: ev.AnyReading, kind: str, title: str, unit: str, due: datetime,
          now: datetime) -> ev.TaskCreated:
    return ev.TaskCreated(task_id=derived(r.reading_id, kind), kind=kind, title=title[:200],
                          unit=unit, due_at=due, reading_ids=[r.reading_id], created_at=now)


def _measured(m: ev.Measurement) -> str:
    measure = codes.MEASURES.get(m.code)
    values = "/".join(f"{c.value:g}" for c in m.components)
    return f"{measure.display if measure else m.code} {values} {m.components[0].ucum}"


def decide(reading: ev.AnyReading, cfg: RuleConfig, now: datetime) -> list[EventPayload]:
    if isinstance(reading, ev.Measurement):
        return _measurement(reading, cfg, now)
    key = (reading.system, reading.code)
    what = _display(reading)
    if reading.severity == 3 or key in codes.RED_ALARMS:
        return _red(reading, what, cfg, now)
    due = now + cfg.follow_up_within
    if key in codes.MISSED_DOSE:
        return [_task(reading, "follow_up", f"Dose ikke tatt: {what}", cfg.unit, due, now)]
    if key == codes.NOT_REPORTED:
        return [_task(reading, "follow_up", "Måling ikke rapportert", cfg.unit, due, now)]
    if reading.severity == 2:
        return [_task(reading, "follow_up", f"Gul hendelse: {what}", cfg.unit, due, now)]
    return []


def _red(reading: ev.AnyReading, what: str, cfg: RuleConfig,
         now: datetime) -> list[EventPayload]:
    due = now + cfg.response_sla
    task = _task(reading, "response", f"Rød alarm: {what}", cfg.unit, due, now)
    system = reading.system if isinstance(reading, ev.DeviceEvent) else codes.LOINC
    return [ev.AlertRaised(alert_id=derived(reading.reading_id, "alert"),
                           reading_id=reading.reading_id, system=system, code=reading.code,
                           display=what[:200], severity=3, unit=cfg.unit, task_id=task.task_id,
                           occurred_at=reading.effective_at, raised_at=now, due_at=due), task]


def _measurement(m: ev.Measurement, cfg: RuleConfig, now: datetime) -> list[EventPayload]:
    """Outside the person's thresholds: yellow a follow-up task, red an alert."""
    if m.light == "red":
        return _red(m, f"{_measured(m)} (rød)", cfg, now)
    if m.light == "yellow":
        return [_task(m, "follow_up", f"Gul måling: {_measured(m)}", cfg.unit,
                      now + cfg.follow_up_within, now)]
    return []
