"""The consent service's decisions: ``decide(facts, command, by, now) -> events``.

Pure functions over the patient's access facts (the same ``Facts`` the policy reads), so what
the service accepts and what every other service enforces come from one model. Refusals raise
``Refused`` with the HTTP status a client should see (409 conflict, 422 invalid, 404 unknown id).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from libs.access import events as ev
from libs.access.identifiers import InvalidIdentifier, parse_person_id, validate_orgnr
from libs.access.model import Citizen, DeclaredBasis, Facts, Practitioner, RestrictionKind, Sector
from libs.access.policy import DEFAULT, age_on, local_day
from libs.events.registry import EventPayload


class Refused(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message
        super().__init__(message)


def conflict(message: str) -> Refused:
    return Refused(409, message)


def invalid(message: str) -> Refused:
    return Refused(422, message)


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Reason = Field(min_length=3, max_length=2000)


class RegisterPerson(Command):
    national_id: str = Field(min_length=1, max_length=20)
    birth_date: date | None = None
    assigner: str | None = Field(default=None, description="who issued an H-number")


class StartCareRelation(Command):
    hpr: str | None = Field(default=None, description="a named professional; else the unit")
    purpose: str = Field(min_length=1, max_length=500)
    basis: Literal["episode", "service_decision", "referral", "legevakt_contact", "other"]
    basis_ref: str | None = Field(default=None, max_length=200)
    ends_at: AwareDatetime | None = None


class EndCareRelation(Command):
    relation_id: UUID
    reason: str | None = Field(default=None, max_length=2000)


class GiveConsent(Command):
    sector: Sector
    recipient_org: str | None = None
    categories: list[str] = Field(min_length=1, max_length=50)
    purpose: str = Field(min_length=1, max_length=500)
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None


class WithdrawConsent(Command):
    consent_id: UUID
    reason: str | None = Field(default=None, max_length=2000)


class RegisterBlock(Command):
    target_kind: Literal["practitioner", "unit"]
    target: str = Field(min_length=1, max_length=20)
    reason: str | None = Field(default=None, max_length=2000)


class RestrictEntry(Command):
    kind: RestrictionKind = RestrictionKind.locked
    target: str = Field(min_length=1, max_length=200)
    notify_on_open: bool = False


class ChooseNotifications(Command):
    restricted_opened: bool = False
    emergency_access: bool = False


class GrantEmergencyAccess(Command):
    basis: DeclaredBasis
    reason: str = Reason
    hours: float = Field(default=DEFAULT.emergency_hours, gt=0, le=24)


class OpenRestricted(Command):
    entries: list[str] = Field(min_length=1, max_length=100)
    basis: DeclaredBasis
    reason: str = Reason


class RegisterGuardian(Command):
    guardian: UUID
    shares_address: bool


class GrantMandate(Command):
    representative: UUID
    categories: list[str] = Field(default=["record"], min_length=1, max_length=50)
    valid_to: AwareDatetime | None = None


class AssignDevice(Command):
    client_id: str = Field(min_length=1, max_length=200)
    technology: str = Field(min_length=1, max_length=200)


class ReportChildWelfare(Command):
    grounds: str = Reason
    content: str = Reason
    disclosed_entries: list[str] = Field(default=[], max_length=200)
    child: UUID | None = Field(default=None, description="the child, when the patient is a "
                               "parent; defaults to the patient")


# --- decisions -------------------------------------------------------------------------------

def register_person(f: Facts, c: RegisterPerson, *, production: bool,
                    rule_2032: bool) -> list[EventPayload]:
    """Production refuses test numbers; development and test refuse real ones, so no real
    person's number ends up in a test database (DOMAIN.md §11 req 3)."""
    if f.registered:
        raise conflict("Personen er allerede registrert. The person is already registered.")
    try:
        pid = parse_person_id(c.national_id, allow_synthetic=not production,
                              allow_real=production, assigner=c.assigner, rule_2032=rule_2032)
    except InvalidIdentifier as exc:
        raise invalid(str(exc)) from None
    birth = c.birth_date or pid.birth_date
    if birth is None:
        raise invalid("birth_date is required when the number does not encode a birth date")
    if pid.birth_date is not None and c.birth_date is not None and pid.birth_date != birth:
        raise invalid("birth_date does not match the date encoded in the national id number")
    return [ev.PersonRegistered(national_id=pid.value, id_type=pid.type, birth_date=birth,
                                assigner=pid.assigner)]


def start_care_relation(f: Facts, c: StartCareRelation, by: Practitioner,
                        now: datetime) -> list[EventPayload]:
    if c.hpr is not None and not (c.hpr.isdigit() and len(c.hpr) <= 9):
        raise invalid("hpr: an HPR number is 1 to 9 digits")
    if c.ends_at is not None and c.ends_at <= now:
        raise invalid("ends_at must be in the future")
    return [ev.CareRelationStarted(relation_id=uuid4(), unit=by.unit, org_parent=by.org_parent,
                                   hpr=c.hpr, purpose=c.purpose, basis=c.basis,
                                   basis_ref=c.basis_ref, started_at=now, ends_at=c.ends_at)]


def end_care_relation(f: Facts, c: EndCareRelation, by: Practitioner,
                      now: datetime) -> list[EventPayload]:
    r = next((r for r in f.care_relations if r.relation_id == c.relation_id), None)
    if r is None or r.unit not in (by.unit, by.org_parent):
        raise Refused(404, "No such care relation for your unit.")
    if not r.active(now):
        raise conflict("The care relation has already ended.")
    return [ev.CareRelationEnded(relation_id=r.relation_id, ended_at=now, reason=c.reason)]


def give_consent(f: Facts, c: GiveConsent, by: Citizen, now: datetime) -> list[EventPayload]:
    if "record" in c.categories:
        raise invalid("A consent names information categories; it never covers the full record "
                      "(and NAV only ever gets period- or topic-limited extracts).")
    if c.recipient_org is not None:
        try:
            validate_orgnr(c.recipient_org)
        except InvalidIdentifier as exc:
            raise invalid(f"recipient_org: {exc}") from None
    start = c.valid_from or now
    if c.valid_to is not None and c.valid_to <= start:
        raise invalid("valid_to must be after valid_from")
    role = "patient" if by.patient_id == f.patient_id else "guardian"
    return [ev.ConsentGiven(consent_id=uuid4(), grantor=by.patient_id, grantor_role=role,
                            sector=c.sector, recipient_org=c.recipient_org,
                            categories=sorted(set(c.categories)), purpose=c.purpose,
                            valid_from=start, valid_to=c.valid_to)]


def withdraw_consent(f: Facts, c: WithdrawConsent, now: datetime) -> list[EventPayload]:
    consent = next((x for x in f.consents if x.consent_id == c.consent_id), None)
    if consent is None:
        raise Refused(404, "No such consent.")
    if consent.withdrawn_at is not None:
        raise conflict("The consent is already withdrawn.")
    return [ev.ConsentWithdrawn(consent_id=c.consent_id, withdrawn_at=now, reason=c.reason)]


def register_block(f: Facts, c: RegisterBlock, now: datetime) -> list[EventPayload]:
    if c.target_kind == "unit":
        try:
            validate_orgnr(c.target)
        except InvalidIdentifier as exc:
            raise invalid(f"target: {exc}") from None
    elif not (c.target.isdigit() and 1 <= len(c.target) <= 9):
        raise invalid("target: an HPR number is 1 to 9 digits")
    if any(b.target == c.target and b.lifted_at is None for b in f.blocks):
        raise conflict("This professional or unit is already blocked.")
    return [ev.BlockRegistered(block_id=uuid4(), target_kind=c.target_kind, target=c.target,
                               since=now, reason=c.reason)]


def lift_block(f: Facts, block_id: UUID, now: datetime) -> list[EventPayload]:
    b = next((b for b in f.blocks if b.block_id == block_id), None)
    if b is None:
        raise Refused(404, "No such block.")
    if b.lifted_at is not None:
        raise conflict("The block is already lifted.")
    return [ev.BlockLifted(block_id=block_id, lifted_at=now)]


def restrict_entry(f: Facts, c: RestrictEntry, now: datetime) -> list[EventPayload]:
    if c.kind == RestrictionKind.hidden_from_guardians and f.birth_date is not None:
        age = age_on(f.birth_date, local_day(now))
        if not DEFAULT.guardian_full_until <= age < DEFAULT.guardian_limited_until:
            raise invalid("Entries are hidden from guardians only for patients aged 12 to 16.")
    if any(r.target == c.target and r.kind == c.kind and r.active(now) for r in f.restrictions):
        raise conflict("This entry or section is already restricted.")
    return [ev.EntryRestricted(restriction_id=uuid4(), kind=c.kind, target=c.target,
                               notify_on_open=c.notify_on_open, since=now)]


def lift_restriction(f: Facts, restriction_id: UUID, now: datetime) -> list[EventPayload]:
    r = next((r for r in f.restrictions if r.restriction_id == restriction_id), None)
    if r is None:
        raise Refused(404, "No such restriction.")
    if r.lifted_at is not None:
        raise conflict("The restriction is already lifted.")
    return [ev.RestrictionLifted(restriction_id=restriction_id, lifted_at=now)]


def grant_emergency(c: GrantEmergencyAccess, by: Practitioner,
                    now: datetime) -> list[EventPayload]:
    if by.hpr is None:
        raise Refused(403, "Emergency access needs authorised health personnel (HPR number).")
    return [ev.EmergencyAccessGranted(access_id=uuid4(), hpr=by.hpr, unit=by.unit,
                                      org_parent=by.org_parent, basis=c.basis, reason=c.reason,
                                      granted_at=now, expires_at=now + timedelta(hours=c.hours))]


def open_restricted(f: Facts, c: OpenRestricted, by: Practitioner, now: datetime,
                    notify: bool) -> list[EventPayload]:
    return [ev.RestrictedEntryOpened(hpr=by.hpr or by.person_id, unit=by.unit,
                                     entries=sorted(set(c.entries)), basis=c.basis,
                                     reason=c.reason, opened_at=now,
                                     notify_patient=notify and f.notify_restricted_opened)]


def register_guardian(f: Facts, c: RegisterGuardian, now: datetime) -> list[EventPayload]:
    if c.guardian == f.patient_id:
        raise invalid("A person cannot be their own guardian.")
    if f.birth_date is not None and age_on(f.birth_date, local_day(now)) >= 18:
        raise invalid("Parental responsibility ends at 18; use a mandate for adults.")
    if any(g.guardian == c.guardian and g.active(now) for g in f.guardians):
        raise conflict("This guardian is already registered.")
    return [ev.GuardianRegistered(guardian=c.guardian, shares_address=c.shares_address,
                                  since=now)]


def grant_mandate(f: Facts, c: GrantMandate, representative: Facts,
                  now: datetime) -> list[EventPayload]:
    today = local_day(now)
    if c.representative == f.patient_id:
        raise invalid("A mandate is given to someone else.")
    if f.birth_date is None or age_on(f.birth_date, today) < DEFAULT.mandate_giver_min_age:
        raise invalid("A mandate can be given only from the age of 16.")
    if (not representative.registered or representative.birth_date is None
            or age_on(representative.birth_date, today) < DEFAULT.mandate_receiver_min_age):
        raise invalid("The representative must be a registered person aged 18 or over.")
    if c.valid_to is not None and c.valid_to <= now:
        raise invalid("valid_to must be in the future")
    return [ev.MandateGranted(mandate_id=uuid4(), representative=c.representative,
                              categories=sorted(set(c.categories)), valid_from=now,
                              valid_to=c.valid_to)]


def revoke_mandate(f: Facts, mandate_id: UUID, now: datetime) -> list[EventPayload]:
    m = next((m for m in f.mandates if m.mandate_id == mandate_id), None)
    if m is None:
        raise Refused(404, "No such mandate.")
    if not m.active(now):
        raise conflict("The mandate is not active.")
    return [ev.MandateRevoked(mandate_id=mandate_id, revoked_at=now)]


def assign_device(f: Facts, c: AssignDevice, now: datetime) -> list[EventPayload]:
    if any(d.client_id == c.client_id and d.active(now) for d in f.devices):
        raise conflict("The device is already assigned to this patient.")
    return [ev.DeviceAssigned(client_id=c.client_id, technology=c.technology, since=now)]


def report_child_welfare(f: Facts, c: ReportChildWelfare, by: Practitioner,
                         now: datetime) -> list[EventPayload]:
    child = c.child or f.patient_id  # the patient may be the child or a parent (AC6)
    if child == f.patient_id and f.birth_date is not None \
            and age_on(f.birth_date, local_day(now)) >= 18:
        raise invalid("The patient is an adult: name the child the report concerns (child).")
    return [ev.ChildWelfareReported(report_id=uuid4(), hpr=by.hpr or by.person_id,
                                    unit=by.unit, child=child, grounds=c.grounds,
                                    content=c.content, disclosed_entries=c.disclosed_entries,
                                    reported_at=now)]

