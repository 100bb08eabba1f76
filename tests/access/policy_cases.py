"""Builders for policy tests: a patient, the people around them, and facts about them."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from libs.access.model import (
    Block, CareRelation, Citizen, Consent, DeclaredBasis, Device, DeviceAssignment,
    EmergencyAccess, Facts, Guardian, Mandate, Practitioner, Restriction, RestrictionKind, Role,
    Sector, SectorOfficial,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
PATIENT = uuid.UUID("0190f0a0-0000-7000-8000-000000000001")
OTHER_PATIENT = uuid.UUID("0190f0a0-0000-7000-8000-000000000002")
PARENT = uuid.UUID("0190f0a0-0000-7000-8000-000000000003")
REPRESENTATIVE = uuid.UUID("0190f0a0-0000-7000-8000-000000000004")

HOME_CARE = "974600952"     # a unit (underenhet)
MUNICIPALITY = "974600951"  # its legal entity
LEGEVAKT = "998877665"

NURSE = Practitioner(person_id="sub-nurse", hpr="9144889", org_parent=MUNICIPALITY,
                     org_child=HOME_CARE, roles=frozenset({Role.nurse}))
COLLEAGUE = Practitioner(person_id="sub-colleague", hpr="9144890", org_parent=MUNICIPALITY,
                         org_child=HOME_CARE, roles=frozenset({Role.nurse}))
LEGEVAKT_DOCTOR = Practitioner(person_id="sub-doc", hpr="7654321", org_parent="998877600",
                               org_child=LEGEVAKT, roles=frozenset({Role.physician}))
SELF = Citizen(person_id="sub-p", patient_id=PATIENT)
STRANGER = Citizen(person_id="sub-o", patient_id=OTHER_PATIENT)
SCHOOL = SectorOfficial(person_id="sub-school", sector=Sector.school, org="123456785")
NAV = SectorOfficial(person_id="sub-nav", sector=Sector.nav, org="889640782")
DISPENSER = Device(client_id="dispenser-42")

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def uid() -> uuid.UUID:
    return uuid.uuid4()


def facts(**kw) -> Facts:
    """Facts of a patient the access model knows (registered), unless ``registered=False``."""
    return Facts(patient_id=kw.pop("patient_id", PATIENT), **({"registered": True} | kw))


def relation(*, unit: str = HOME_CARE, hpr: str | None = None, start=NOW - DAY,
             ends=None, ended=None, source: str | None = "journal") -> CareRelation:
    return CareRelation(relation_id=uid(), unit=unit, hpr=hpr, purpose="home care",
                        basis="service_decision", started_at=start, ends_at=ends,
                        ended_at=ended, source=source)


def block(target: str, kind: str = "practitioner", since=NOW - DAY, lifted=None) -> Block:
    return Block(block_id=uid(), target_kind=kind, target=target, since=since, lifted_at=lifted)


def emergency(who: Practitioner, granted=NOW - HOUR, hours: float = 4) -> EmergencyAccess:
    return EmergencyAccess(access_id=uid(), hpr=who.hpr, unit=who.unit,
                           basis=DeclaredBasis.necessity, granted_at=granted,
                           expires_at=granted + timedelta(hours=hours))


def consent(sector: Sector, categories=("school_health",), start=NOW - DAY, end=None,
            withdrawn=None, org=None) -> Consent:
    return Consent(consent_id=uid(), sector=sector, categories=frozenset(categories),
                   purpose="follow-up", valid_from=start, valid_to=end, withdrawn_at=withdrawn,
                   recipient_org=org)


def restriction(target: str, kind=RestrictionKind.locked, notify=False) -> Restriction:
    return Restriction(restriction_id=uid(), kind=kind, target=target, notify_on_open=notify,
                       since=NOW - DAY)


def guardian(shares_address: bool = True, parent=PARENT) -> Guardian:
    return Guardian(guardian=parent, shares_address=shares_address, since=NOW - 3650 * DAY)


def mandate(categories=("record",), revoked=None) -> Mandate:
    return Mandate(mandate_id=uid(), representative=REPRESENTATIVE,
                   categories=frozenset(categories), valid_from=NOW - DAY, revoked_at=revoked)


def device(client_id: str = "dispenser-42", ended=None) -> DeviceAssignment:
    return DeviceAssignment(client_id=client_id, since=NOW - DAY, ended_at=ended)


def birthday(years: int, *, days_after: int = 0) -> date:
    """A birth date making the patient turn ``years`` on NOW's date + ``days_after``."""
    d = NOW.date() + timedelta(days=days_after)
    return d.replace(year=d.year - years)


def parent_of(child=PATIENT) -> Citizen:
    return Citizen(person_id="sub-parent", patient_id=PARENT, acting_for=child)


def representative_of(principal=PATIENT) -> Citizen:
    return Citizen(person_id="sub-rep", patient_id=REPRESENTATIVE, acting_for=principal)
