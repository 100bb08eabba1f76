"""Episodes of care, IPLOS functional assessments and service decisions (vedtak), decided against
the ``Patient`` state of ``patients.py`` (DOMAIN.md §5.1, §11 requirements 25-26).

A decision goes applied -> granted | refused, and granted -> ended; anything else is a Conflict.
A grant rests on an IPLOS assessment (IPLOS-kartlegging) with every variable scored 1-5 or 9,
made at most ``ASSESSMENT_MAX_AGE_DAYS`` days before the grant (default 365 [inference]: IPLOS
asks for an assessment at every new vedtak and whenever needs change; we let a new grant rest on
one up to a year old; callers pass ``max_age_days``). Assessments may be partial; a grant checks
completeness and says what is missing (Invalid). After death, episodes and decisions can still be
closed (ended, or an application refused) so the registry gets end dates; nothing new is started.

``grant_service`` returns ``Granted(events, care_relation)``. ``CareRelationNeeded`` is the care
relation the access model needs (no read without one): the HTTP layer turns it into the consent
service's ``StartCareRelation`` for the provider unit. This module never calls anyone.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Literal, NamedTuple
from uuid import UUID, uuid4

from pydantic import Field, StrictInt

from libs.events.evolve import replace_where
from libs.events.registry import EventPayload
from libs.kernel.errors import Conflict, Invalid, NotFound
from libs.kernel.time import OSLO, Day, Instant, clinical_day, clinical_time, local_day
from services.journal import contract as ev
from services.journal.contract import EpisodeKind, Scope
from services.journal.domain.base import (
    Command, Frozen, orgnr, require_alive, require_registered, service_code,
)
from services.journal.domain.codes.iplos import iplos_variables

if TYPE_CHECKING:
    from services.journal.domain.patients import Patient

# The IPLOS variables of the shipped list (domain/codes/data/iplos; 17, to be checked
# against the official guide); callers may pass another list as ``variables``.
IPLOS_VARIABLES: tuple[str, ...] = tuple(v.id for v in iplos_variables())
SCORES: frozenset[int] = frozenset({1, 2, 3, 4, 5, 9})
ASSESSMENT_MAX_AGE_DAYS = 365
Note = Field(default=None, max_length=2000)


class Episode(Frozen):
    episode_id: UUID
    kind: EpisodeKind
    unit: str
    started_at: datetime
    ended_at: datetime | None = None


class Assessment(Frozen):
    assessment_id: UUID
    scores: dict[str, int]
    assessed_at: datetime
    assessed_by: str


class ServiceDecision(Frozen):
    decision_id: UUID
    service_code: str
    status: Literal["applied", "granted", "refused", "ended"] = "applied"
    applied_on: date
    requested_scope: Scope | None = None
    from_date: date | None = None
    to_date: date | None = None
    scope: Scope | None = None
    provider: str | None = None
    assessment_id: UUID | None = None
    decided_on: date | None = None
    ended_on: date | None = None


class CareRelationNeeded(Frozen):
    """The care relation a grant calls for: the HTTP layer sends the consent service a
    ``StartCareRelation(purpose, basis, basis_ref, ends_at)`` for the provider ``unit``. It is
    started when the grant is made (the provider reads the record before the first visit)."""

    unit: str
    purpose: str
    basis: Literal["service_decision"] = "service_decision"
    basis_ref: str
    starts_on: date
    ends_at: datetime | None = None


class Granted(NamedTuple):
    events: list[EventPayload]
    care_relation: CareRelationNeeded | None  # None when the granted period is already over


# --- commands --------------------------------------------------------------------------------

class StartEpisode(Command):
    kind: EpisodeKind
    unit: str = Field(max_length=20, description="organisation number of the unit")
    started_at: Instant | None = None
    reason: str | None = Note


class EndEpisode(Command):
    episode_id: UUID
    ended_at: Instant | None = None
    reason: str | None = Note


class AssessIplos(Command):
    scores: dict[str, StrictInt] = Field(max_length=100, description="variable -> 1-5 or 9")
    assessed_at: Instant | None = None


class ApplyForService(Command):
    service_code: str = Field(max_length=10, description="IPLOS tjenestekode")
    applied_on: Day | None = None
    requested_scope: Scope | None = None
    note: str | None = Note


class GrantService(Command):
    decision_id: UUID
    from_date: Day
    to_date: Day | None = None
    scope: Scope
    provider: str = Field(max_length=20, description="organisation number of the provider")
    service_code: str | None = Field(default=None, max_length=10, description="default: applied")
    assessment_id: UUID | None = Field(default=None, description="default: newest valid one")


class RefuseService(Command):
    decision_id: UUID
    reason: str = Field(min_length=3, max_length=2000)


class EndService(Command):
    decision_id: UUID
    ended_on: Day | None = None
    reason: str | None = Note


# --- checks ----------------------------------------------------------------------------------

def _scope(s: Scope) -> Scope:
    if s.unit != "continuous" and s.amount is None:
        raise Invalid(f"scope: give the amount of {s.unit.replace('_', ' ')}")
    if s.unit == "hours_per_week" and s.amount is not None and s.amount > 168:
        raise Invalid("scope: a week has 168 hours")
    return s


def _not_future(p: Patient, field: str, when: datetime | date, now: datetime) -> None:
    """A time the patient's care began, ended or was assessed: plausible (not after now, give
    or take a few minutes of clock skew; not before the patient's birth)."""
    if isinstance(when, datetime):
        clinical_time(field, when, now, p.birth_date)
    else:
        clinical_day(field, when, now, p.birth_date)


def _decision(p: Patient, decision_id: UUID) -> ServiceDecision:
    d = next((d for d in p.decisions if d.decision_id == decision_id), None)
    if d is None:
        raise NotFound("No such service decision for this patient.")
    return d


def assessment_for_grant(p: Patient, assessment_id: UUID | None, today: date, *,
                         variables: Collection[str], max_age_days: int) -> Assessment:
    """The assessment a grant on ``today`` rests on: the one named, or else the newest valid."""
    need = (f"A grant needs an IPLOS functional assessment with every variable scored 1-5 or 9, "
            f"made within {max_age_days} days before the decision")
    found = [a for a in p.assessments if assessment_id in (None, a.assessment_id)]
    if not found:
        raise Invalid(f"{need}: " + ("no assessment is registered for this patient."
                                     if assessment_id is None else "the named one does not "
                                     "exist for this patient."))

    def problems(a: Assessment) -> list[str]:
        missing = [v for v in variables if a.scores.get(v) not in SCORES]
        age = (today - local_day(a.assessed_at)).days
        return ([f"no score for {', '.join(missing)}"] if missing else []) + (
            [f"it is {age} days old"] if age > max_age_days else [])

    newest = sorted(found, key=lambda a: a.assessed_at, reverse=True)
    valid = next((a for a in newest if not problems(a)), None)
    if valid is None:
        a = newest[0]
        raise Invalid(f"{need}: the {'named' if assessment_id else 'newest'} one "
                      f"({local_day(a.assessed_at).isoformat()}) is not valid: "
                      f"{'; '.join(problems(a))}.")
    return valid


# --- decisions -------------------------------------------------------------------------------

def start_episode(p: Patient, c: StartEpisode, now: datetime) -> list[EventPayload]:
    require_alive(p)
    unit, start = orgnr("unit", c.unit), c.started_at or now
    _not_future(p, "started_at", start, now)
    if any(e.kind == c.kind and e.unit == unit and e.ended_at is None for e in p.episodes):
        raise Conflict(f"A {c.kind} episode at this unit is already open.")
    return [ev.EpisodeStarted(episode_id=uuid4(), kind=c.kind, unit=unit, started_at=start,
                              reason=c.reason)]


def end_episode(p: Patient, c: EndEpisode, now: datetime) -> list[EventPayload]:
    require_registered(p)  # also after death: closing is allowed
    e = next((e for e in p.episodes if e.episode_id == c.episode_id), None)
    if e is None:
        raise NotFound("No such episode for this patient.")
    if e.ended_at is not None:
        raise Conflict("The episode has already ended.")
    end = c.ended_at or now
    _not_future(p, "ended_at", end, now)
    if end < e.started_at:
        raise Invalid("ended_at is before the episode started")
    return [ev.EpisodeEnded(episode_id=e.episode_id, ended_at=end, reason=c.reason)]


def assess_iplos(p: Patient, c: AssessIplos, by: str, now: datetime, *,
                 variables: Collection[str] = IPLOS_VARIABLES) -> list[EventPayload]:
    """Record scores (all or some) made by ``by`` (an HPR number or person id)."""
    require_alive(p)
    if not c.scores:
        raise Invalid("scores: give at least one IPLOS variable and its score")
    unknown = sorted(set(c.scores) - set(variables))
    if unknown:
        raise Invalid(f"scores: not IPLOS variables: {', '.join(unknown)}")
    bad = [f"{v}={s}" for v, s in c.scores.items() if s not in SCORES]
    if bad:
        raise Invalid(f"scores: IPLOS scores are 1-5 or 9 (not relevant); got {', '.join(bad)}")
    at = c.assessed_at or now
    _not_future(p, "assessed_at", at, now)
    return [ev.IplosAssessed(assessment_id=uuid4(), scores=c.scores, assessed_at=at,
                             assessed_by=by)]


def apply_for_service(p: Patient, c: ApplyForService, now: datetime, *,
                      service_codes: Collection[str] | None = None) -> list[EventPayload]:
    require_alive(p)
    on = c.applied_on or local_day(now)
    _not_future(p, "applied_on", on, now)
    scope = _scope(c.requested_scope) if c.requested_scope is not None else None
    return [ev.ServiceApplied(decision_id=uuid4(),
                              service_code=service_code(c.service_code, service_codes),
                              applied_on=on, requested_scope=scope, note=c.note)]


def grant_service(p: Patient, c: GrantService, now: datetime, *,
                  variables: Collection[str] = IPLOS_VARIABLES,
                  max_age_days: int = ASSESSMENT_MAX_AGE_DAYS,
                  service_codes: Collection[str] | None = None) -> Granted:
    require_alive(p)
    d = _decision(p, c.decision_id)
    if d.status != "applied":
        raise Conflict(f"Only an applied service can be granted; this decision is {d.status}.")
    code = service_code(c.service_code or d.service_code, service_codes)
    provider = orgnr("provider", c.provider)
    if c.to_date is not None and c.to_date < c.from_date:
        raise Invalid("to_date is before from_date (til_dato must be on or after fra_dato)")
    if p.birth_date is not None and c.from_date < p.birth_date:
        raise Invalid("from_date is before the patient's birth date")
    scope, today = _scope(c.scope), local_day(now)
    a = assessment_for_grant(p, c.assessment_id, today, variables=variables,
                             max_age_days=max_age_days)
    granted = ev.ServiceGranted(decision_id=d.decision_id, service_code=code,
                                from_date=c.from_date, to_date=c.to_date, scope=scope,
                                provider=provider, assessment_id=a.assessment_id,
                                decided_on=today)
    ends_at = (datetime.combine(c.to_date + timedelta(days=1), time(), OSLO)
               if c.to_date is not None else None)
    relation = None if ends_at is not None and ends_at <= now else CareRelationNeeded(
        unit=provider, purpose=f"service decision (vedtak): IPLOS service {code}",
        basis_ref=str(d.decision_id), starts_on=c.from_date, ends_at=ends_at)
    return Granted([granted], relation)


def refuse_service(p: Patient, c: RefuseService, now: datetime) -> list[EventPayload]:
    require_registered(p)  # also after death: an open application is closed
    d = _decision(p, c.decision_id)
    if d.status != "applied":
        raise Conflict(f"Only an applied service can be refused; this decision is {d.status}.")
    return [ev.ServiceRefused(decision_id=d.decision_id, reason=c.reason,
                              decided_on=local_day(now))]


def end_service(p: Patient, c: EndService, now: datetime) -> list[EventPayload]:
    require_registered(p)  # also after death: the service gets its end date
    d = _decision(p, c.decision_id)
    if d.status != "granted":
        raise Conflict(f"Only a granted service can be ended; this decision is {d.status}.")
    on = c.ended_on or local_day(now)
    _not_future(p, "ended_on", on, now)
    if d.from_date is not None and on < d.from_date:
        raise Invalid("ended_on is before the service's from_date")
    if d.to_date is not None and on > d.to_date:
        raise Invalid(f"ended_on is after the service's to_date ({d.to_date.isoformat()})")
    return [ev.ServiceEnded(decision_id=d.decision_id, ended_on=on, reason=c.reason)]


# --- evolve ----------------------------------------------------------------------------------


def evolve(p: Patient, e: EventPayload) -> Patient:
    """The care arms of ``patients.evolve``; other events leave the state as it is."""
    u, decided = p.model_copy, (lambda x: x.decision_id == e.decision_id)
    match e:
        case ev.EpisodeStarted():
            new = Episode(episode_id=e.episode_id, kind=e.kind, unit=e.unit,
                          started_at=e.started_at)
            return u(update={"episodes": (*p.episodes, new)})
        case ev.EpisodeEnded():
            return u(update={"episodes": replace_where(
                p.episodes, lambda x: x.episode_id == e.episode_id, ended_at=e.ended_at)})
        case ev.IplosAssessed():
            a = Assessment(assessment_id=e.assessment_id, scores=dict(e.scores),
                           assessed_at=e.assessed_at, assessed_by=e.assessed_by)
            return u(update={"assessments": (*p.assessments, a)})
        case ev.ServiceApplied():
            d = ServiceDecision(decision_id=e.decision_id, service_code=e.service_code,
                                applied_on=e.applied_on, requested_scope=e.requested_scope)
            return u(update={"decisions": (*p.decisions, d)})
        case ev.ServiceGranted():
            return u(update={"decisions": replace_where(
                p.decisions, decided, status="granted", service_code=e.service_code,
                from_date=e.from_date, to_date=e.to_date, scope=e.scope, provider=e.provider,
                assessment_id=e.assessment_id, decided_on=e.decided_on)})
        case ev.ServiceRefused():
            return u(update={"decisions": replace_where(
                p.decisions, decided, status="refused", decided_on=e.decided_on)})
        case ev.ServiceEnded():
            return u(update={"decisions": replace_where(
                p.decisions, decided, status="ended", ended_on=e.ended_on)})
    return p
