"""Accept or quarantine a reading (requirement 46), and the service owner's decision on one
that was quarantined. Pure: the coverage and the reading's recorded events come in."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID, uuid5

from pydantic import BaseModel, ConfigDict, Field

from libs.events.registry import EventPayload
from libs.kernel.errors import Conflict, NotFound
from services.welfare import contract as ev
from services.welfare.domain.coverage import Coverage, light_of, technology_key

REVIEW_NAMESPACE = UUID("3b0f7d4e-5a8c-4f2a-8e61-7c9d0a1b2c3d")
NO_BASIS = ("No consent or pasrl § 4-6 a decision covered {technology} for the person when "
            "this happened.")


def accepted(reading: ev.AnyReading) -> EventPayload:
    if isinstance(reading, ev.Measurement):
        return ev.MeasurementReceived(reading=reading)
    return ev.DeviceEventReceived(reading=reading)


def intake(coverage: Coverage, reading: ev.AnyReading) -> tuple[list[EventPayload], bool]:
    """The reading's events, and whether it was quarantined. A measurement gets its light
    against the person's thresholds as they stand when it comes."""
    if isinstance(reading, ev.Measurement):
        reading = reading.model_copy(update={"light": light_of(coverage, reading.components)})
    if coverage.covers(reading.technology, reading.effective_at) is not None:
        return [accepted(reading)], False
    return [ev.ReadingQuarantined(reading=reading, reading_id=reading.reading_id,
                                  reason=NO_BASIS.format(technology=reading.technology))], True


def review_task(patient_id: UUID, reading: ev.AnyReading, owner_unit: str,
                sla: timedelta, now: datetime) -> ev.TaskCreated:
    """The service owner's task to release or discard what was quarantined (its id follows
    from the first reading it was opened for)."""
    return ev.TaskCreated(
        task_id=uuid5(REVIEW_NAMESPACE, f"{patient_id}:{reading.reading_id}"),
        kind="quarantine_review",
        title=f"Data fra {reading.technology} uten samtykke eller vedtak: frigi eller forkast",
        unit=owner_unit, due_at=now + sla, reading_ids=[reading.reading_id], created_at=now)


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


def quarantined_of(entries: list[EventPayload]) -> ev.ReadingQuarantined:
    q = next((e for e in entries if isinstance(e, ev.ReadingQuarantined)), None)
    if q is None:
        raise NotFound("No such reading in quarantine.")
    if any(isinstance(e, ev.QuarantineReleased | ev.QuarantineDiscarded) for e in entries):
        raise Conflict("This reading has already been decided on.")
    return q


def release(entries: list[EventPayload], d: Decision, hpr: str, unit: str,
            now: datetime) -> list[EventPayload]:
    q = quarantined_of(entries)
    return [ev.QuarantineReleased(reading=q.reading, reading_id=q.reading_id, reason=d.reason,
                                  by=hpr, unit=unit, decided_at=now)]


def discard(entries: list[EventPayload], d: Decision, hpr: str, unit: str,
            now: datetime) -> list[EventPayload]:
    q = quarantined_of(entries)
    return [ev.QuarantineDiscarded(reading_id=q.reading_id, reason=d.reason, by=hpr,
                                   unit=unit, decided_at=now)]


def review_key(technology: str) -> str:
    return technology_key(technology)
