"""The envelope every event travels in (DESIGN.md §3). JSON on the wire; Kafka key = patient_id."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import uuid_utils.compat as uuid_utils
from pydantic import BaseModel, ConfigDict, Field


class Actor(BaseModel):
    """Who caused the event. ``id`` is an HPR number, a device id or a system name, never a
    national id number."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["practitioner", "citizen", "device", "system"]
    id: str
    organisation: str | None = None
    unit: str | None = None
    role: str | None = None


SYSTEM = Actor(kind="system", id="ehr")


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: UUID = Field(description="UUIDv7: unique, and sorts by creation time")
    type: str = Field(description="'<service>.<PastTenseName>', e.g. medication.DoseChanged")
    schema_version: int = Field(ge=1)
    stream_id: str
    stream_version: int = Field(ge=1)
    patient_id: UUID | None = Field(description="internal patient id; never a national id number")
    occurred_at: datetime
    recorded_at: datetime
    actor: Actor
    purpose: str | None = None
    correlation_id: UUID | None = None
    causation_id: UUID | None = None
    traceparent: str | None = Field(default=None, description="W3C traceparent of the write")
    data: dict[str, Any]

    def wire(self) -> bytes:
        return self.model_dump_json().encode()

    def key(self) -> bytes:
        """Kafka key: the patient, so one patient's events keep their order in one partition."""
        return (str(self.patient_id) if self.patient_id else self.stream_id).encode()


def new_event_id() -> UUID:
    """A UUIDv7 (a standard-library ``UUID``): its first 48 bits the clock's milliseconds, ids
    made in the same millisecond ordered by RFC 9562's counter. ``uuid6.uuid7`` ordered them by
    adding a millisecond per id instead, so under load (more than one id a millisecond) the
    ids' time ran ahead of the clock without bound: minutes after a few minutes of load."""
    return uuid_utils.uuid7()


def utcnow() -> datetime:
    return datetime.now(UTC)
