"""An alert's handling (requirement 45), pure: raised, escalated while nobody acknowledges it,
acknowledged, resolved. Every step is an event on the person's stream."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from libs.events.registry import EventPayload
from libs.kernel.errors import Conflict, NotFound
from services.welfare import contract as ev

MAX_LEVEL = 3


class Resolve(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=2000, description="what was done")


def status_of(entries: list[EventPayload], alert_id: UUID) -> str:
    """raised, acknowledged or resolved (NotFound when there is no such alert)."""
    if not any(isinstance(e, ev.AlertRaised) for e in entries):
        raise NotFound("No such alert.")
    if any(isinstance(e, ev.AlertResolved) for e in entries):
        return "resolved"
    if any(isinstance(e, ev.AlertAcknowledged) for e in entries):
        return "acknowledged"
    return "raised"


def acknowledge(entries: list[EventPayload], alert_id: UUID, hpr: str, unit: str,
                now: datetime) -> list[EventPayload]:
    status = status_of(entries, alert_id)
    if status != "raised":
        raise Conflict(f"The alert is already {status}.")
    return [ev.AlertAcknowledged(alert_id=alert_id, by=hpr, unit=unit, acknowledged_at=now)]


def resolve(entries: list[EventPayload], alert_id: UUID, r: Resolve, hpr: str, unit: str,
            now: datetime) -> list[EventPayload]:
    if status_of(entries, alert_id) == "resolved":
        raise Conflict("The alert is already resolved.")
    return [ev.AlertResolved(alert_id=alert_id, note=r.note, by=hpr, unit=unit,
                             resolved_at=now)]


def escalation(alert_id: UUID, level: int, sla: timedelta,
               now: datetime) -> ev.AlertEscalated | None:
    """The next level for an alert left unacknowledged past its due time (None past the
    last level: it stays on the board at the top level)."""
    if level >= MAX_LEVEL:
        return None
    return ev.AlertEscalated(alert_id=alert_id, level=level + 1, due_at=now + sla,
                             escalated_at=now)
