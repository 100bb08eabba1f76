"""The ``consent.events`` contract: facts about who may see a patient's record.

services/consent writes these; every service projects them locally (``access_facts``) so an
access decision never makes a network call. Stream per patient: ``access-<patient_id>``.
Past-tense facts, never changed; a withdrawal or an end is a new event.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from libs.kernel.identifiers import Hpr, PersonIdType
from libs.access.model import DeclaredBasis, RelationSource, RestrictionKind, Sector
from libs.events.registry import EventPayload, event

Text = Field(min_length=1, max_length=2000)


@event("consent.PersonRegistered")
class PersonRegistered(EventPayload):
    """A person becomes known to the access model. The national id is here (and only here) so a
    citizen's login can be mapped to their patient id; it is never a key or a header."""

    national_id: str
    id_type: PersonIdType
    birth_date: date
    assigner: str | None = None


@event("consent.CareRelationStarted")
class CareRelationStarted(EventPayload):
    """A care relation (tjenstlig relasjon) of a unit, or of a named professional in it.
    ``source`` says how it came about: ``journal`` (a fact in the journal: registration, episode,
    application, service decision, inbound message), ``assigned`` (by the unit leader, with
    ``reason``) or ``self_declared`` (by the professional, where the organisation allows it;
    always time-limited and reviewed). Events recorded before issue 12 have no source."""

    relation_id: UUID
    unit: str
    org_parent: str
    hpr: Hpr | None = None
    purpose: str = Text
    basis: Literal["episode", "service_decision", "referral", "legevakt_contact", "other"]
    basis_ref: str | None = None
    started_at: datetime
    ends_at: datetime | None = None
    source: RelationSource | None = None
    reason: str | None = Field(default=None, max_length=2000)
    declared_by: Hpr | None = Field(default=None, description="the unit leader who assigned "
                                    "it, or the professional who declared it")


@event("consent.CareRelationEnded")
class CareRelationEnded(EventPayload):
    relation_id: UUID
    ended_at: datetime
    reason: str | None = None


@event("consent.ConsentGiven")
class ConsentGiven(EventPayload):
    consent_id: UUID
    grantor: UUID = Field(description="patient id of who gave it: the patient or a guardian")
    grantor_role: Literal["patient", "guardian", "representative"]
    sector: Sector
    recipient_org: str | None = None
    categories: list[str] = Field(min_length=1)
    purpose: str = Text
    valid_from: datetime
    valid_to: datetime | None = None


@event("consent.ConsentWithdrawn")
class ConsentWithdrawn(EventPayload):
    consent_id: UUID
    withdrawn_at: datetime
    reason: str | None = None


@event("consent.BlockRegistered")
class BlockRegistered(EventPayload):
    """The patient objects to a named professional or unit seeing their record (motsette seg)."""

    block_id: UUID
    target_kind: Literal["practitioner", "unit"]
    target: str
    since: datetime
    reason: str | None = None


@event("consent.BlockLifted")
class BlockLifted(EventPayload):
    block_id: UUID
    lifted_at: datetime


@event("consent.EntryRestricted")
class EntryRestricted(EventPayload):
    """An entry or a section is locked (sperret) or hidden from guardians."""

    restriction_id: UUID
    kind: RestrictionKind
    target: str
    notify_on_open: bool = False
    since: datetime


@event("consent.RestrictionLifted")
class RestrictionLifted(EventPayload):
    restriction_id: UUID
    lifted_at: datetime


@event("consent.RestrictedEntryOpened")
class RestrictedEntryOpened(EventPayload):
    hpr: str
    unit: str
    entries: list[str]
    basis: DeclaredBasis
    reason: str = Text
    opened_at: datetime
    notify_patient: bool


@event("consent.NotificationsChosen")
class NotificationsChosen(EventPayload):
    """Which events the patient wants to be told about."""

    restricted_opened: bool = False
    emergency_access: bool = False


@event("consent.ConsentLevelChosen")
class ConsentLevelChosen(EventPayload):
    """The patient's consent level for digital health services (helsenorge's samtykkenivå):
    ``basis`` or ``full``. Full lets them send messages to their care team; going back to basis
    withdraws that."""

    level: Literal["basis", "full"]
    chosen_at: datetime


@event("consent.EmergencyAccessGranted")
class EmergencyAccessGranted(EventPayload):
    """Break-the-glass (akuttilgang): time-limited, logged as such, reviewed afterwards."""

    access_id: UUID
    hpr: Hpr
    unit: str
    org_parent: str
    basis: DeclaredBasis
    reason: str = Text
    granted_at: datetime
    expires_at: datetime


@event("consent.GuardianRegistered")
class GuardianRegistered(EventPayload):
    """Parental responsibility from the population register (foreldreansvar)."""

    guardian: UUID
    shares_address: bool
    since: datetime


@event("consent.GuardianAddressChanged")
class GuardianAddressChanged(EventPayload):
    guardian: UUID
    shares_address: bool


@event("consent.GuardianEnded")
class GuardianEnded(EventPayload):
    guardian: UUID
    ended_at: datetime


@event("consent.MandateGranted")
class MandateGranted(EventPayload):
    """A mandate (fullmakt): giver ≥ 16, receiver ≥ 18 when granted."""

    mandate_id: UUID
    representative: UUID
    categories: list[str] = Field(min_length=1)
    valid_from: datetime
    valid_to: datetime | None = None


@event("consent.MandateRevoked")
class MandateRevoked(EventPayload):
    mandate_id: UUID
    revoked_at: datetime


@event("consent.DeviceAssigned")
class DeviceAssigned(EventPayload):
    client_id: str
    technology: str
    since: datetime


@event("consent.DeviceUnassigned")
class DeviceUnassigned(EventPayload):
    client_id: str
    ended_at: datetime


@event("consent.ChildWelfareReported")
class ChildWelfareReported(EventPayload):
    """A report to child welfare under the duty to notify (hpl § 33): no consent needed."""

    report_id: UUID
    hpr: str
    unit: str
    child: UUID
    grounds: str = Text
    content: str = Text
    disclosed_entries: list[str] = []
    reported_at: datetime


@event("consent.DisclosureMade")
class DisclosureMade(EventPayload):
    """An extract given to a sector outside health care, under a consent."""

    disclosure_id: UUID
    sector: Sector
    recipient_org: str
    consent_id: UUID
    categories: list[str]
    period_from: date | None = None
    period_to: date | None = None
    disclosed_at: datetime


@event("consent.AccessReviewed")
class AccessReviewed(EventPayload):
    """A unit leader's review of a flagged access (log control, AC13)."""

    review_id: UUID
    access_event_id: UUID
    reviewer_hpr: str | None
    unit: str
    outcome: Literal["justified", "escalated"]
    note: str | None = None
    reviewed_at: datetime
