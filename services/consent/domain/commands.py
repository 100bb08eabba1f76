"""What a client asks the consent service to do: one immutable command per decision."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field

from libs.access.rules import DEFAULT
from libs.access.model import DeclaredBasis, RestrictionKind, Sector
from libs.kernel.identifiers import Hpr
from libs.kernel.model import Frozen


EMERGENCY_HOURS = DEFAULT.emergency_hours
"""How long emergency access lasts unless the professional asks for less (or up to 24 hours)."""


class Command(Frozen):
    """A request to change the patient's access facts (immutable, no unknown fields)."""


Reason = Field(min_length=3, max_length=2000)


class RegisterPerson(Command):
    national_id: str = Field(min_length=1, max_length=20)
    birth_date: date | None = None
    assigner: str | None = Field(default=None, description="who issued an H-number")


class StartCareRelation(Command):
    """A unit leader assigns a care relation to their unit (or a named professional of it); or
    a professional declares one for themself, where their organisation allows it
    (``domain/relations.py``)."""

    hpr: Hpr | None = Field(default=None, description="a named professional; else the unit")
    purpose: str = Field(min_length=1, max_length=500)
    basis: Literal["episode", "service_decision", "referral", "legevakt_contact", "other"]
    basis_ref: str | None = Field(default=None, max_length=200)
    reason: str = Field(min_length=3, max_length=2000, description="why the relation is needed")
    ends_at: AwareDatetime | None = Field(default=None, description="in the future; a "
                                          "self-declared relation ends within hours")


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
    target: str = Field(min_length=1, max_length=20, description="an HPR number (leading "
                        "zeros are the same number) or an organisation number")
    reason: str | None = Field(default=None, max_length=2000)


class RestrictEntry(Command):
    kind: RestrictionKind = RestrictionKind.locked
    target: str = Field(min_length=1, max_length=200)
    notify_on_open: bool = False


class ChooseNotifications(Command):
    restricted_opened: bool = False
    emergency_access: bool = False


class ChooseConsentLevel(Command):
    level: Literal["basis", "full"] = Field(description="helsenorge's samtykkenivå: full "
                                            "lets the patient message their care team")


class GrantEmergencyAccess(Command):
    basis: DeclaredBasis
    reason: str = Reason
    hours: float = Field(default=EMERGENCY_HOURS, gt=0, le=24)


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


class ExtractRequest(BaseModel):
    """A recipient outside health care asks for an extract of one category."""

    category: str = Field(min_length=1, max_length=100)
    period_from: date | None = None
    period_to: date | None = None
    full_record: bool = False


class ReviewBody(BaseModel):
    outcome: Literal["justified", "escalated"]
    note: str | None = Field(default=None, max_length=2000)


class ReviewItem(Frozen):
    """A flagged access waiting for (or done with) the unit leader's review."""

    unit: str
    reviewed_at: datetime | None = None
