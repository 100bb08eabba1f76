"""What the registry keeps of one person, folded from the events it reads (pure).

A :class:`Person` holds only what KPR, the statistics and research releases need, keyed by the
internal patient id: birth year, sex, residence history (kommune/bydel), death, service
decisions, IPLOS assessments, diagnosis codes (no display text, no notes), the number of active
medicines and the number of accesses logged. Never the national id or a name: those stay in the
service's PostgreSQL schema (``projections/identities.py``).

Idempotent by construction: ``seen`` keeps, per source stream, the last stream version folded
in. A redelivered event (at-least-once, a worker killed before it committed its offset) has a
version at or below it and changes nothing, so nothing is counted twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field

from libs.access import events as consent
from libs.events.envelope import Envelope
from libs.events.registry import EventPayload
from libs.kernel.time import local_day
from services.journal import contract as journal
from services.medication import contract as medication
from services.registry_export.domain.codes import welfare_service_code
from services.welfare import contract as welfare

Status = Literal["applied", "granted", "refused", "ended"]


class Service(BaseModel):
    decision_id: str
    code: str
    status: Status
    applied_on: date | None = None
    from_date: date | None = None
    to_date: date | None = None
    decided_on: date | None = None
    ended_on: date | None = None
    provider: str | None = None
    assessment_id: str | None = None
    source: Literal["decision", "welfare"] = "decision"   # a journal decision, or coverage


class Residence(BaseModel):
    since: date
    municipality: str
    district: str | None = None


class Assessment(BaseModel):
    assessed_on: date
    scores: dict[str, int]


class Diagnosis(BaseModel):
    system: str
    code: str
    recorded_on: date
    resolved_on: date | None = None


class Person(BaseModel):
    patient_id: str
    birth_year: int | None = None
    sex: str | None = None
    residence: list[Residence] = Field(default_factory=list)
    died_on: date | None = None
    services: dict[str, Service] = Field(default_factory=dict)
    iplos: dict[str, Assessment] = Field(default_factory=dict)
    diagnoses: dict[str, Diagnosis] = Field(default_factory=dict)
    medicines: list[str] = Field(default_factory=list)
    accesses: int = 0
    seen: dict[str, int] = Field(default_factory=dict)

    def residence_on(self, day: date) -> Residence | None:
        """Where the person lived on ``day``; before the first known address, that address."""
        if not self.residence:
            return None
        current = self.residence[0]
        for r in self.residence:
            if r.since <= day:
                current = r
        return current

    def latest_assessment(self, on: date | None = None) -> Assessment | None:
        done = [a for a in self.iplos.values() if on is None or a.assessed_on <= on]
        return max(done, key=lambda a: a.assessed_on, default=None)


def fold(person: Person | None, env: Envelope, payload: EventPayload) -> Person | None:
    """The person after ``payload``, or None when the event changes nothing (already folded in,
    or of no interest to the registry)."""
    if env.patient_id is None:
        return None
    if env.stream_version <= (person.seen.get(env.stream_id, 0) if person else 0):
        return None
    base = person or Person(patient_id=str(env.patient_id))
    changed = _apply(_copy(base), env, payload)
    if changed is None:
        return None
    changed.seen[env.stream_id] = env.stream_version
    return changed


def _copy(p: Person) -> Person:
    """A copy to fold into, the given person left as it was. Its containers are new; the
    services, residences, assessments and diagnoses in them are shared, since folding replaces
    them and never changes one in place (a deep copy was most of the fold's time)."""
    return p.model_copy(update={
        "residence": list(p.residence), "services": dict(p.services), "iplos": dict(p.iplos),
        "diagnoses": dict(p.diagnoses), "medicines": list(p.medicines), "seen": dict(p.seen)})


def folded(stream_id: str) -> bool:
    """Whether the registry folds a stream at all: not the welfare readings streams (device
    readings, alerts, tasks: nothing the registry counts, and most of welfare.events), only
    the welfare coverage streams of that topic. An event of a stream not folded makes no part."""
    return not stream_id.startswith(welfare.STREAM_PREFIX) or stream_id.startswith(
        welfare.COVERAGE_PREFIX)


def part_key(patient_id: object, stream_id: str) -> str:
    """The table key of one source stream's part of a person: ``<patient id>/<stream id>``."""
    return f"{patient_id}/{stream_id}"


def version(part: Person) -> int:
    """How far into its stream a part is (a part is folded from one stream only)."""
    return max(part.seen.values(), default=0)


def advance(part: Person | None, env: Envelope, payload: EventPayload) -> Person | None:
    """The part of ``env``'s stream after the event: its facts folded in and its version moved
    on even when no fact changes, so the versions a part has seen have no holes and a part that
    is behind shows it (``env.stream_version > version(part) + 1``). None when the event is
    already in it, or has no patient."""
    if env.patient_id is None or not folded(env.stream_id) or (
            part is not None and env.stream_version <= version(part)):
        return None
    changed = fold(part, env, payload)
    if changed is None:
        changed = _copy(part or Person(patient_id=str(env.patient_id)))
        changed.seen[env.stream_id] = env.stream_version
    return changed


def merge(parts: Iterable[Person]) -> Person:
    """One person from the parts of their streams. The streams touch different facts, except
    the birth year, which the journal gives before the consent service: so the person does not
    depend on the order the streams were read in."""
    ordered = sorted(parts, key=lambda p: (not any(s.startswith(journal.STREAM_PREFIX)
                                                   for s in p.seen), sorted(p.seen)))
    out = Person(patient_id=ordered[0].patient_id)
    for p in reversed(ordered):   # the first part wins: it is applied last
        out.birth_year = p.birth_year if p.birth_year is not None else out.birth_year
        out.sex = p.sex if p.sex is not None else out.sex
        out.died_on = p.died_on if p.died_on is not None else out.died_on
        out.residence = p.residence or out.residence
        out.services |= p.services
        out.iplos |= p.iplos
        out.diagnoses |= p.diagnoses
        out.seen |= p.seen
        out.accesses += p.accesses
    out.medicines = sorted({m for p in ordered for m in p.medicines})
    return out


def _apply(p: Person, env: Envelope, e: Any) -> Person | None:  # noqa: C901, PLR0911, PLR0912
    match e:
        case journal.PatientRegistered():
            p.birth_year, p.sex = e.birth_date.year, e.sex
            p.residence = [_residence(local_day(e.registered_at), e.address)]
        case journal.PatientDetailsChanged():
            if e.birth_date is not None:
                p.birth_year = e.birth_date.year
            if e.sex is not None:
                p.sex = e.sex
            if e.address is not None:
                since = local_day(e.changed_at)
                p.residence = [r for r in p.residence if r.since < since]
                p.residence.append(_residence(since, e.address))
        case journal.PatientDeceased():
            p.died_on = e.deceased_on
        case journal.IplosAssessed():
            p.iplos[str(e.assessment_id)] = Assessment(assessed_on=local_day(e.assessed_at),
                                                       scores=dict(e.scores))
        case journal.ServiceApplied():
            p.services[str(e.decision_id)] = Service(
                decision_id=str(e.decision_id), code=e.service_code, status="applied",
                applied_on=e.applied_on)
        case journal.ServiceGranted():
            old = p.services.get(str(e.decision_id))
            p.services[str(e.decision_id)] = Service(
                decision_id=str(e.decision_id), code=e.service_code, status="granted",
                applied_on=old.applied_on if old else None, from_date=e.from_date,
                to_date=e.to_date, decided_on=e.decided_on, provider=e.provider,
                assessment_id=str(e.assessment_id))
        case journal.ServiceRefused():
            old = p.services.get(str(e.decision_id))
            if old is None:
                return None
            p.services[old.decision_id] = old.model_copy(
                update={"status": "refused", "decided_on": e.decided_on})
        case journal.ServiceEnded():
            old = p.services.get(str(e.decision_id))
            if old is None:
                return None
            p.services[old.decision_id] = old.model_copy(
                update={"status": "ended", "ended_on": e.ended_on})
        case journal.ConditionRecorded():
            p.diagnoses[str(e.condition_id)] = Diagnosis(
                system=e.system, code=e.code, recorded_on=local_day(e.recorded_at))
        case journal.ConditionResolved():
            old = p.diagnoses.get(str(e.condition_id))
            if old is None:
                return None
            p.diagnoses[str(e.condition_id)] = old.model_copy(
                update={"resolved_on": e.resolved_on})
        case medication.MedicationPrescribed() | medication.MedicationRecordedFromOtherSource():
            p.medicines = sorted({*p.medicines, str(e.entry_id)})
        case medication.MedicationDiscontinued():
            p.medicines = [m for m in p.medicines if m != str(e.entry_id)]
        case welfare.CoverageRecorded():
            code = welfare_service_code(e.technology)
            if code is None:
                return None
            p.services[str(e.coverage_id)] = Service(
                decision_id=str(e.coverage_id), code=code, status="granted",
                from_date=local_day(e.valid_from), decided_on=local_day(e.recorded_at),
                to_date=local_day(e.valid_to) if e.valid_to is not None else None,
                source="welfare")
        case welfare.CoverageEnded():
            old = p.services.get(str(e.coverage_id))
            if old is None:
                return None
            p.services[old.decision_id] = old.model_copy(
                update={"status": "ended", "ended_on": local_day(e.ended_at)})
        case consent.PersonRegistered():
            if p.birth_year is not None:
                return None
            p.birth_year = e.birth_date.year
        case _ if env.type == "audit.AccessLogged":
            p.accesses += 1
        case _:
            return None
    return p


def _residence(since: date, address: journal.Address) -> Residence:
    return Residence(since=since, municipality=address.municipality, district=address.district)
