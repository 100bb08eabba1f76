"""The consent service's decisions: ``decide(facts, command, by, now) -> events``.

Pure functions over the patient's access facts (the same ``Facts`` the policy reads), so what
the service accepts and what every other service enforces come from one model. A refusal is a
kind of ``libs.kernel.errors``: ``Conflict`` (the facts do not allow it), ``Invalid`` (the
input is not acceptable), ``NotFound`` (no such id), ``Forbidden`` (not this person's to do).
The ages are the policy's (``libs/access/rules.py``), so the service never
accepts what the policy would then read differently.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import UUID, uuid4

from libs.access.model import Citizen, Facts, Practitioner, RestrictionKind, SectorOfficial
from libs.events.registry import EventPayload
from libs.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from libs.kernel.identifiers import (
    InvalidIdentifier, parse_hpr, parse_person_id, validate_orgnr,
)
from libs.access.rules import DEFAULT, PolicyConfig
from libs.kernel.time import age_on, local_day
from services.consent import contract as ev
from services.consent.domain.commands import (
    AssignDevice, ChooseConsentLevel, ChooseNotifications, EndCareRelation, ExtractRequest,
    GiveConsent, GrantEmergencyAccess, GrantMandate, OpenRestricted, RegisterBlock, RegisterGuardian,
    RegisterPerson, ReportChildWelfare, RestrictEntry, ReviewBody, ReviewItem,
    WithdrawConsent,
)
from services.consent.domain.relations import TEN_YEARS, plausible_end

ADULT_AGE = 18   # parental responsibility ends (and a report must name the child)
CLOCK_SKEW = timedelta(minutes=5)   # a consent "from now" sent by a client whose clock is behind


def _plausible(at: datetime | None, now: datetime, what: str,
               past: timedelta = timedelta(0)) -> datetime | None:
    """A consent's or mandate's date: not in the past (beyond ``past``), at most ten years
    ahead; 422 otherwise, never an overflow."""
    return None if at is None else plausible_end(at, now - past, TEN_YEARS + past, what)


def register_person(f: Facts, c: RegisterPerson, *, production: bool,
                    rule_2032: bool) -> list[EventPayload]:
    """Production refuses test numbers; development and test refuse real ones, so no real
    person's number ends up in a test database (DOMAIN.md §11 req 3)."""
    if f.registered:
        raise Conflict("Personen er allerede registrert. The person is already registered.")
    try:
        pid = parse_person_id(c.national_id, allow_synthetic=not production,
                              allow_real=production, assigner=c.assigner, rule_2032=rule_2032)
    except InvalidIdentifier as exc:
        raise Invalid(str(exc)) from None
    birth = c.birth_date or pid.birth_date
    if birth is None:
        raise Invalid("birth_date is required when the number does not encode a birth date")
    if pid.birth_date is not None and c.birth_date is not None and pid.birth_date != birth:
        raise Invalid("birth_date does not match the date encoded in the national id number")
    return [ev.PersonRegistered(national_id=pid.value, id_type=pid.type, birth_date=birth,
                                assigner=pid.assigner)]


def end_care_relation(f: Facts, c: EndCareRelation, by: Practitioner,
                      now: datetime) -> list[EventPayload]:
    r = next((r for r in f.care_relations if r.relation_id == c.relation_id), None)
    if r is None or r.unit not in (by.unit, by.org_parent):
        raise NotFound("No such care relation for your unit.")
    if not r.active(now):
        raise Conflict("The care relation has already ended.")
    return [ev.CareRelationEnded(relation_id=r.relation_id, ended_at=now, reason=c.reason)]


def give_consent(f: Facts, c: GiveConsent, by: Citizen, now: datetime) -> list[EventPayload]:
    if "record" in c.categories:
        raise Invalid("A consent names information categories; it never covers the full record "
                      "(and NAV only ever gets period- or topic-limited extracts).")
    if c.recipient_org is not None:
        try:
            validate_orgnr(c.recipient_org)
        except InvalidIdentifier as exc:
            raise Invalid(f"recipient_org: {exc}") from None
    start = _plausible(c.valid_from, now, "valid_from", past=CLOCK_SKEW) or now
    _plausible(c.valid_to, now, "valid_to")
    if c.valid_to is not None and c.valid_to <= start:
        raise Invalid("valid_to must be after valid_from")
    role = "patient" if by.patient_id == f.patient_id else "guardian"
    return [ev.ConsentGiven(consent_id=uuid4(), grantor=by.patient_id, grantor_role=role,
                            sector=c.sector, recipient_org=c.recipient_org,
                            categories=sorted(set(c.categories)), purpose=c.purpose,
                            valid_from=start, valid_to=c.valid_to)]


def withdraw_consent(f: Facts, c: WithdrawConsent, now: datetime) -> list[EventPayload]:
    consent = next((x for x in f.consents if x.consent_id == c.consent_id), None)
    if consent is None:
        raise NotFound("No such consent.")
    if consent.withdrawn_at is not None:
        raise Conflict("The consent is already withdrawn.")
    return [ev.ConsentWithdrawn(consent_id=c.consent_id, withdrawn_at=now, reason=c.reason)]


def register_block(f: Facts, c: RegisterBlock, now: datetime) -> list[EventPayload]:
    if c.target_kind == "unit":
        try:
            validate_orgnr(c.target)
        except InvalidIdentifier as exc:
            raise Invalid(f"target: {exc}") from None
        target = c.target
    else:
        try:
            target = parse_hpr(c.target)   # "07654321" blocks the same person as "7654321"
        except InvalidIdentifier as exc:
            raise Invalid(f"target: {exc}") from None
    if any(b.target == target and b.lifted_at is None for b in f.blocks):
        raise Conflict("This professional or unit is already blocked.")
    return [ev.BlockRegistered(block_id=uuid4(), target_kind=c.target_kind, target=target,
                               since=now, reason=c.reason)]


def lift_block(f: Facts, block_id: UUID, now: datetime) -> list[EventPayload]:
    b = next((b for b in f.blocks if b.block_id == block_id), None)
    if b is None:
        raise NotFound("No such block.")
    if b.lifted_at is not None:
        raise Conflict("The block is already lifted.")
    return [ev.BlockLifted(block_id=block_id, lifted_at=now)]


def restrict_entry(f: Facts, c: RestrictEntry, now: datetime, *,
                   rules: PolicyConfig = DEFAULT) -> list[EventPayload]:
    if c.kind == RestrictionKind.hidden_from_guardians and f.birth_date is not None:
        age = age_on(f.birth_date, local_day(now))
        if not rules.guardian_full_until <= age < rules.guardian_limited_until:
            raise Invalid("Entries are hidden from guardians only for patients aged 12 to 16.")
    if any(r.target == c.target and r.kind == c.kind and r.active(now) for r in f.restrictions):
        raise Conflict("This entry or section is already restricted.")
    return [ev.EntryRestricted(restriction_id=uuid4(), kind=c.kind, target=c.target,
                               notify_on_open=c.notify_on_open, since=now)]


def lift_restriction(f: Facts, restriction_id: UUID, now: datetime) -> list[EventPayload]:
    r = next((r for r in f.restrictions if r.restriction_id == restriction_id), None)
    if r is None:
        raise NotFound("No such restriction.")
    if r.lifted_at is not None:
        raise Conflict("The restriction is already lifted.")
    return [ev.RestrictionLifted(restriction_id=restriction_id, lifted_at=now)]


def grant_emergency(c: GrantEmergencyAccess, by: Practitioner,
                    now: datetime) -> list[EventPayload]:
    if by.hpr is None:
        raise Forbidden("Emergency access needs authorised health personnel (HPR number).")
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
        raise Invalid("A person cannot be their own guardian.")
    if f.birth_date is not None and age_on(f.birth_date, local_day(now)) >= ADULT_AGE:
        raise Invalid("Parental responsibility ends at 18; use a mandate for adults.")
    if any(g.guardian == c.guardian and g.active(now) for g in f.guardians):
        raise Conflict("This guardian is already registered.")
    return [ev.GuardianRegistered(guardian=c.guardian, shares_address=c.shares_address,
                                  since=now)]


def grant_mandate(f: Facts, c: GrantMandate, representative: Facts, now: datetime, *,
                  rules: PolicyConfig = DEFAULT) -> list[EventPayload]:
    today = local_day(now)
    if c.representative == f.patient_id:
        raise Invalid("A mandate is given to someone else.")
    if f.birth_date is None or age_on(f.birth_date, today) < rules.mandate_giver_min_age:
        raise Invalid("A mandate can be given only from the age of 16.")
    if (not representative.registered or representative.birth_date is None
            or age_on(representative.birth_date, today) < rules.mandate_receiver_min_age):
        raise Invalid("The representative must be a registered person aged 18 or over.")
    _plausible(c.valid_to, now, "valid_to")
    return [ev.MandateGranted(mandate_id=uuid4(), representative=c.representative,
                              categories=sorted(set(c.categories)), valid_from=now,
                              valid_to=c.valid_to)]


def revoke_mandate(f: Facts, mandate_id: UUID, now: datetime) -> list[EventPayload]:
    m = next((m for m in f.mandates if m.mandate_id == mandate_id), None)
    if m is None:
        raise NotFound("No such mandate.")
    if not m.active(now):
        raise Conflict("The mandate is not active.")
    return [ev.MandateRevoked(mandate_id=mandate_id, revoked_at=now)]


def assign_device(f: Facts, c: AssignDevice, now: datetime) -> list[EventPayload]:
    if any(d.client_id == c.client_id and d.active(now) for d in f.devices):
        raise Conflict("The device is already assigned to this patient.")
    return [ev.DeviceAssigned(client_id=c.client_id, technology=c.technology, since=now)]


def report_child_welfare(f: Facts, c: ReportChildWelfare, by: Practitioner,
                         now: datetime) -> list[EventPayload]:
    child = c.child or f.patient_id  # the patient may be the child or a parent (AC6)
    if child == f.patient_id and f.birth_date is not None \
            and age_on(f.birth_date, local_day(now)) >= ADULT_AGE:
        raise Invalid("The patient is an adult: name the child the report concerns (child).")
    return [ev.ChildWelfareReported(report_id=uuid4(), hpr=by.hpr or by.person_id,
                                    unit=by.unit, child=child, grounds=c.grounds,
                                    content=c.content, disclosed_entries=c.disclosed_entries,
                                    reported_at=now)]


def choose_notifications(c: ChooseNotifications) -> list[EventPayload]:
    return [ev.NotificationsChosen(**c.model_dump())]


def choose_consent_level(f: Facts, c: ChooseConsentLevel, now: datetime) -> list[EventPayload]:
    """Basis or full; choosing the level one has changes nothing (no event)."""
    if f.consent_level == c.level:
        return []
    return [ev.ConsentLevelChosen(level=c.level, chosen_at=now)]


def extract_period(c: ExtractRequest) -> tuple[date, date] | None:
    """The period an extract is limited to, when it names both ends."""
    if (c.period_from and c.period_to) and c.period_to < c.period_from:
        raise Invalid("period_to must not be before period_from")
    return (c.period_from, c.period_to) if c.period_from and c.period_to else None


def record_disclosure(disclosure_id: UUID, c: ExtractRequest, by: SectorOfficial,
                      consent_id: UUID | None, now: datetime) -> list[EventPayload]:
    """The extract the policy permitted (under ``consent_id``), as a fact."""
    return [ev.DisclosureMade(disclosure_id=disclosure_id, sector=by.sector,
                              recipient_org=by.org, consent_id=consent_id,
                              categories=[c.category], period_from=c.period_from,
                              period_to=c.period_to, disclosed_at=now)]


def review_access(review_id: UUID, item_id: UUID, item: ReviewItem | None, c: ReviewBody,
                  by: Practitioner, now: datetime) -> list[EventPayload]:
    """The unit leader closes a review item of their unit (AC13): ``item`` is None when there
    is no such item, or it is not theirs to review (the edge asks the policy)."""
    if item is None:
        raise NotFound("No such review item in your unit.")
    if item.reviewed_at is not None:
        raise Conflict("This item is already reviewed.")
    return [ev.AccessReviewed(review_id=review_id, access_event_id=item_id,
                              reviewer_hpr=by.hpr, unit=item.unit, outcome=c.outcome,
                              note=c.note, reviewed_at=now)]
