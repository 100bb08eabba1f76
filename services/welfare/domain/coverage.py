"""The legal bases that let the service use a technology's data for a person (requirement 46,
pasrl § 4-6 a): the person's consent, or a decision for an adult who lacks consent capacity.

A reading is used only while a basis covers its technology at the time it happened; otherwise
it is quarantined. The state is one small stream per person (``welfare-coverage-<id>``), decided
against under one version, so an ending and a recording never cross unseen.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from libs.events.registry import EventPayload
from libs.kernel.errors import Conflict, Invalid, NotFound
from services.welfare import contract as ev
from services.welfare.domain import codes


def technology_key(name: str) -> str:
    """Technologies are named freely where a device is assigned (``medisindispenser``,
    ``Trygghetsalarm``): compared without case and surrounding spaces."""
    return " ".join(name.split()).casefold()


class Entry(BaseModel):
    model_config = ConfigDict(frozen=True)
    coverage_id: UUID
    technology: str
    basis: str
    decision_ref: str
    valid_from: datetime
    valid_to: datetime | None = None
    ended_at: datetime | None = None

    def covers(self, technology: str, at: datetime) -> bool:
        if technology_key(self.technology) != technology_key(technology):
            return False
        end = min((t for t in (self.valid_to, self.ended_at) if t is not None), default=None)
        return self.valid_from <= at and (end is None or at < end)


class Coverage(BaseModel):
    """The person's plan for welfare technology: the legal bases, and the thresholds a
    clinician set for their values."""

    model_config = ConfigDict(frozen=True)
    patient_id: UUID
    entries: tuple[Entry, ...] = ()
    bands: dict[str, ev.Band] = Field(default_factory=dict)
    inactivity_h: float | None = None   # "no activity for N hours by day", None: off

    @classmethod
    def empty(cls, patient_id: UUID) -> Coverage:
        return cls(patient_id=patient_id)

    def covers(self, technology: str, at: datetime) -> Entry | None:
        return next((e for e in self.entries if e.covers(technology, at)), None)


class RecordCoverage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    technology: str = Field(min_length=1, max_length=200)
    basis: Literal["consent", "pasrl_4_6a"]
    decision_ref: str = Field(min_length=1, max_length=200, description=(
        "the vedtak's reference (pasrl § 4-6 a) or where the consent is documented"))
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None


class EndCoverage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


def record(state: Coverage, c: RecordCoverage, hpr: str, unit: str,
           now: datetime) -> list[EventPayload]:
    start = c.valid_from or now
    if c.valid_to is not None and c.valid_to <= start:
        raise Invalid("valid_to must be after valid_from.")
    return [ev.CoverageRecorded(coverage_id=uuid4(), technology=" ".join(c.technology.split()),
                                basis=c.basis, decision_ref=c.decision_ref, valid_from=start,
                                valid_to=c.valid_to, by=hpr, unit=unit, recorded_at=now)]


def end(state: Coverage, coverage_id: UUID, c: EndCoverage, hpr: str,
        now: datetime) -> list[EventPayload]:
    entry = next((e for e in state.entries if e.coverage_id == coverage_id), None)
    if entry is None:
        raise NotFound("No such consent or decision for this person.")
    if entry.ended_at is not None:
        raise Conflict("It has already ended.")
    return [ev.CoverageEnded(coverage_id=coverage_id, reason=c.reason, by=hpr, ended_at=now)]


def evolve(state: Coverage, e: EventPayload) -> Coverage:
    match e:
        case ev.CoverageRecorded():
            entry = Entry(coverage_id=e.coverage_id, technology=e.technology, basis=e.basis,
                          decision_ref=e.decision_ref, valid_from=e.valid_from,
                          valid_to=e.valid_to)
            return state.model_copy(update={"entries": (*state.entries, entry)})
        case ev.ThresholdsSet():
            return state.model_copy(update={"bands": state.bands | {e.band.code: e.band}})
        case ev.InactivityLimitSet():
            return state.model_copy(update={"inactivity_h": e.hours})
        case ev.CoverageEnded():
            return state.model_copy(update={"entries": tuple(
                x.model_copy(update={"ended_at": e.ended_at}) if x.coverage_id == e.coverage_id
                else x for x in state.entries)})
    return state


def set_thresholds(state: Coverage, band: ev.Band, hpr: str, unit: str,
                   now: datetime) -> list[EventPayload]:
    known = {q.code for m in codes.MEASURES.values() for q in m.parts}
    if band.code not in known:
        raise Invalid(f"{band.code} is not a value this service measures.")
    ordered = [b for b in (band.red_low, band.yellow_low, band.yellow_high, band.red_high)
               if b is not None]
    if ordered != sorted(ordered):
        raise Invalid("Thresholds must rise: red_low <= yellow_low <= yellow_high <= red_high.")
    if not ordered:
        raise Invalid("Give at least one threshold.")
    return [ev.ThresholdsSet(band=band, by=hpr, unit=unit, set_at=now)]


class InactivityLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hours: float | None = Field(ge=1, le=15, description=(
        "a follow-up task when no device reports activity for this many hours of the day "
        "(07:00-22:00 Norwegian time); null turns the rule off"))


def set_inactivity(state: Coverage, body: InactivityLimit, hpr: str, unit: str,
                   now: datetime) -> list[EventPayload]:
    return [ev.InactivityLimitSet(hours=body.hours, by=hpr, unit=unit, set_at=now)]


def light_of(state: Coverage, components: list[ev.Component]) -> str | None:
    """The worst light of the values the person has thresholds for; None when none has."""
    order = ("green", "yellow", "red")
    lights = [_light(state.bands[c.code], c.value) for c in components if c.code in state.bands]
    return max(lights, key=order.index) if lights else None


def _light(b: ev.Band, v: float) -> str:
    if (b.red_low is not None and v < b.red_low) or (b.red_high is not None and v > b.red_high):
        return "red"
    if (b.yellow_low is not None and v < b.yellow_low) or \
            (b.yellow_high is not None and v > b.yellow_high):
        return "yellow"
    return "green"
