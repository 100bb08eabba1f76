"""The ``welfare.events`` contract, the one module of this service others may import: what
welfare-technology devices report about a person (DOMAIN.md §8, requirements 44-48), what the
service decides about it (quarantine, coverage) and the alerts and tasks it raises.

Streams: ``welfare-<patient_id>`` holds a person's readings, quarantine decisions, alerts and
tasks (nobody decides against that stream: readings are facts, appended as they come);
``welfare-coverage-<patient_id>`` holds the legal bases for the technologies used with the
person (consent or a pasrl § 4-6 a decision), decided against under one version.

A reading is one device event: a measurement (``MeasurementReceived``, LOINC + UCUM) or an event
or alarm (``DeviceEventReceived``, a VKP code and severity 0-3). Its ``reading_id`` is derived
from the device's client id and its own event id, so a repeat is the same reading.
``effective_at`` is when it happened on the device, ``received_at`` when we took it: a late
reading is recorded in its place in time (readers order by ``effective_at``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from libs.events.registry import EventPayload, event

STREAM_PREFIX = "welfare-"
COVERAGE_PREFIX = "welfare-coverage-"

Severity = Literal[0, 1, 2, 3]
"""VKP severity: 0 not reported, 1 green, 2 yellow, 3 red."""
Basis = Literal["consent", "pasrl_4_6a"]
"""The legal basis for using a technology with a person: their consent, or for an adult who
lacks consent capacity a decision (vedtak) under pasrl § 4-6 a."""
TaskKind = Literal["response", "follow_up", "quarantine_review"]
OrgNr = Field(pattern=r"^\d{9}$", description="organisation number (Enhetsregisteret)")
Hpr = Field(pattern=r"^\d{1,9}$", description="HPR number")
Reason = Field(min_length=1, max_length=2000)
DeviceId = Field(min_length=1, max_length=200, description="the device's client id")
DeviceEventId = Field(min_length=1, max_length=100, description="the device's own event id")


def stream_of(patient_id: UUID) -> str:
    return f"{STREAM_PREFIX}{patient_id}"


def coverage_stream_of(patient_id: UUID) -> str:
    return f"{COVERAGE_PREFIX}{patient_id}"


class Component(BaseModel):
    """One value of a measurement (a blood pressure has two)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    code: str = Field(pattern=r"^\d{1,7}-\d$", description="LOINC code")
    value: float
    ucum: str = Field(min_length=1, max_length=20, description="UCUM unit")


class Reading(BaseModel):
    """What every reading carries."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    reading_id: UUID
    device: str = DeviceId
    device_event_id: str = DeviceEventId
    technology: str = Field(min_length=1, max_length=200)
    effective_at: datetime
    received_at: datetime


Light = Literal["green", "yellow", "red"]


class Measurement(Reading):
    kind: Literal["measurement"] = "measurement"
    code: str = Field(pattern=r"^\d{1,7}-\d$", description="LOINC code of the observation")
    components: list[Component] = Field(min_length=1, max_length=10)
    light: Light | None = Field(default=None, description=(
        "against the person's thresholds when it came (requirement 47); None: none set"))


class DeviceEvent(Reading):
    kind: Literal["event"] = "event"
    system: str = Field(min_length=1, max_length=200, description="the VKP code system")
    code: str = Field(pattern=r"^\d{1,2}(\.\d{1,2})?$", description="VKP code, e.g. 4.1")
    severity: Severity


AnyReading = Measurement | DeviceEvent


@event("welfare.MeasurementReceived")
class MeasurementReceived(EventPayload):
    """A home-monitoring measurement, accepted (a legal basis covered it)."""

    reading: Measurement


@event("welfare.DeviceEventReceived")
class DeviceEventReceived(EventPayload):
    """A device event or alarm (dispenser, safety alarm, sensor, measurement missing),
    accepted."""

    reading: DeviceEvent


@event("welfare.ReadingQuarantined")
class ReadingQuarantined(EventPayload):
    """A reading no consent or pasrl § 4-6 a decision covered when it came: kept aside, used
    for nothing, until the service owner releases or discards it."""

    reading: Measurement | DeviceEvent   # told apart by their ``kind``
    reading_id: UUID
    reason: str = Reason


@event("welfare.QuarantineReleased")
class QuarantineReleased(EventPayload):
    """The service owner's decision: the reading is used after all (it counts as received
    now); ``reading`` repeats it so a reader needs nothing else."""

    reading: Measurement | DeviceEvent   # told apart by their ``kind``
    reading_id: UUID
    reason: str = Reason
    by: str = Hpr
    unit: str = OrgNr
    decided_at: datetime


@event("welfare.QuarantineDiscarded")
class QuarantineDiscarded(EventPayload):
    """The service owner's decision: the reading is not used (it stays recorded as
    discarded)."""

    reading_id: UUID
    reason: str = Reason
    by: str = Hpr
    unit: str = OrgNr
    decided_at: datetime


@event("welfare.TaskCreated")
class TaskCreated(EventPayload):
    """A task for a unit: a response to a red alarm, a follow-up, or a quarantine review for
    the service owner. ``due_at`` is its SLA."""

    task_id: UUID
    kind: TaskKind
    title: str = Field(min_length=1, max_length=200)
    unit: str = OrgNr
    due_at: datetime
    reading_ids: list[UUID] = Field(default_factory=list, max_length=100)
    created_at: datetime


@event("welfare.CoverageRecorded")
class CoverageRecorded(EventPayload):
    """A legal basis for a technology: the person's consent or a pasrl § 4-6 a decision
    (``decision_ref`` names the vedtak or the documented consent)."""

    coverage_id: UUID
    technology: str = Field(min_length=1, max_length=200)
    basis: Basis
    decision_ref: str = Field(min_length=1, max_length=200)
    valid_from: datetime
    valid_to: datetime | None = None
    by: str = Hpr
    unit: str = OrgNr
    recorded_at: datetime


@event("welfare.CoverageEnded")
class CoverageEnded(EventPayload):
    """Consent withdrawn, or the decision ended or overturned."""

    coverage_id: UUID
    reason: str = Reason
    by: str = Hpr
    ended_at: datetime


@event("welfare.AlertRaised")
class AlertRaised(EventPayload):
    """A red alarm (a fall, fire, a button pressed): a Flag for the person, answered by the
    responsible home-care unit within its SLA (``due_at``) through the response task
    ``task_id``. Raised once per reading (``alert_id`` follows from it)."""

    alert_id: UUID
    reading_id: UUID
    system: str = Field(min_length=1, max_length=200)
    code: str = Field(min_length=1, max_length=20)
    display: str = Field(min_length=1, max_length=200)
    severity: Severity
    unit: str = OrgNr
    task_id: UUID
    occurred_at: datetime
    raised_at: datetime
    due_at: datetime


class Band(BaseModel):
    """Green inside [yellow_low, yellow_high]; yellow inside [red_low, red_high]; red outside.
    A bound left out does not apply."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    code: str = Field(pattern=r"^\d{1,7}-\d$", description="LOINC code of the value")
    yellow_low: float | None = None
    yellow_high: float | None = None
    red_low: float | None = None
    red_high: float | None = None


@event("welfare.ThresholdsSet")
class ThresholdsSet(EventPayload):
    """A clinician's thresholds for one of the person's values (requirement 47)."""

    band: Band
    by: str = Hpr
    unit: str = OrgNr
    set_at: datetime


@event("welfare.InactivityLimitSet")
class InactivityLimitSet(EventPayload):
    """A clinician's limit for "no activity for N hours by day" (``domain/inactivity.py``):
    a follow-up task when none of the person's devices has reported activity for ``hours``
    hours of the day; ``hours`` None turns the rule off for the person."""

    hours: float | None = Field(default=None, ge=1, le=15)
    by: str = Hpr
    unit: str = OrgNr
    set_at: datetime


@event("welfare.AlertAcknowledged")
class AlertAcknowledged(EventPayload):
    """Someone has taken the alert: it no longer escalates."""

    alert_id: UUID
    by: str = Hpr
    unit: str = OrgNr
    acknowledged_at: datetime


@event("welfare.AlertEscalated")
class AlertEscalated(EventPayload):
    """Nobody acknowledged the alert within its SLA: it goes to the next level (1 the unit's
    leader on duty, 2 and up the municipality's emergency plan), due again by ``due_at``."""

    alert_id: UUID
    level: int = Field(ge=1, le=10)
    due_at: datetime
    escalated_at: datetime


@event("welfare.AlertResolved")
class AlertResolved(EventPayload):
    """The alert is handled and closed, with what was done."""

    alert_id: UUID
    note: str = Reason
    by: str = Hpr
    unit: str = OrgNr
    resolved_at: datetime


@event("welfare.AlertEnRoute")
class AlertEnRoute(EventPayload):
    """Someone who acknowledged the alert is on the way to the person ("on my way")."""

    alert_id: UUID
    by: str = Hpr
    unit: str = OrgNr
    en_route_at: datetime
