"""What an access decision is made from: who asks (subject), what they want (action, resource),
and what is known about the patient (facts). Pure data; no I/O (DESIGN.md §4, DOMAIN.md §4).

Glossary: need-to-know = tjenstlig behov; care relation = behandlingsrelasjon / tjenstlig
relasjon; block = blokkering / motsette seg; restricted entry = sperret opplysning; hidden from
guardians = vergeinnsynsreservasjon; emergency access = akuttilgang (nødrett); proxy for a child =
foreldrerepresentasjon; mandate = fullmakt; duty to notify child welfare = opplysningsplikt
(hpl § 33).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.kernel.identifiers import Hpr, InvalidIdentifier, parse_hpr


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- who asks --------------------------------------------------------------------------------

class Role(StrEnum):
    """Professional roles the services distinguish. ``prescriber`` changes the medication list;
    ``unit_leader`` reviews the access log of their unit."""

    nurse = "nurse"
    physician = "physician"
    prescriber = "prescriber"
    health_secretary = "health_secretary"
    unit_leader = "unit_leader"
    other = "other"


class Practitioner(Frozen):
    """Health personnel, from a HelseID-shaped token. ``person_id`` is the token's pairwise
    ``sub``, never the national id number."""

    kind: Literal["practitioner"] = "practitioner"
    person_id: str
    hpr: Hpr | None = Field(default=None, description="HPR number (Helsepersonellregisteret), "
                            "canonical: no leading zeros")
    name: str | None = None
    org_parent: str = Field(description="organisation number of the legal entity")
    org_child: str | None = Field(default=None, description="organisation number of the unit")
    roles: frozenset[Role] = frozenset()
    security_level: int = 4

    @property
    def unit(self) -> str:
        return self.org_child or self.org_parent

    @property
    def actor_id(self) -> str:
        return self.hpr or self.person_id


class Citizen(Frozen):
    """A citizen from an ID-porten-shaped token, mapped to their internal patient id. The
    ``acting_for`` patient is set when they use proxy rights (a child, a mandate giver)."""

    kind: Literal["citizen"] = "citizen"
    person_id: str = Field(description="pairwise sub of the token, not the national id")
    patient_id: UUID | None = Field(description="None when the citizen has no record here")
    acting_for: UUID | None = None
    acr: str = "idporten-loa-high"

    @property
    def actor_id(self) -> str:
        return str(self.patient_id) if self.patient_id else self.person_id


class Sector(StrEnum):
    """Recipients outside the health services; they see only what a consent (or, for NAV, a
    legal demand) allows."""

    nav = "nav"
    school = "school"
    kindergarten = "kindergarten"
    ppt = "ppt"
    child_welfare = "child_welfare"
    municipal_other = "municipal_other"


class SectorOfficial(Frozen):
    kind: Literal["sector"] = "sector"
    person_id: str
    sector: Sector
    org: str

    @property
    def actor_id(self) -> str:
        return self.person_id


class Device(Frozen):
    """A welfare-technology device or gateway with its own client credentials."""

    kind: Literal["device"] = "device"
    client_id: str

    @property
    def actor_id(self) -> str:
        return self.client_id


Subject = Annotated[Practitioner | Citizen | SectorOfficial | Device, Field(discriminator="kind")]


# --- what they want --------------------------------------------------------------------------

class Action(StrEnum):
    read = "read"
    write = "write"
    open_restricted = "open_restricted"   # open a sperret entry or section
    disclose = "disclose"                 # an extract for a sector outside health care
    manage = "manage"                     # consents, blocks, restrictions, notifications
    report_child_welfare = "report_child_welfare"


class DeclaredBasis(StrEnum):
    consent = "consent"
    necessity = "necessity"   # nødrett (straffeloven § 17)


class Declaration(Frozen):
    """What a professional states before emergency access or opening a restricted entry."""

    basis: DeclaredBasis
    reason: str = Field(min_length=3, max_length=2000)


class Resource(Frozen):
    """The patient data asked for. ``category`` is an information category (``record`` means the
    whole record); ``entries`` names specific entries when the request is about them."""

    patient_id: UUID
    category: str = "record"
    entries: frozenset[str] = frozenset()
    full_record: bool = False
    period: tuple[date, date] | None = None
    declaration: Declaration | None = None


# --- what is known about the patient (projected from consent.events) -------------------------

RelationSource = Literal["journal", "assigned", "self_declared"]
"""How a care relation came about: from a journal fact (registration, episode, application,
service decision, inbound message), assigned by the unit leader (the data controller, AC3), or
declared by the professional themself where their organisation allows it (always reviewed)."""


class CareRelation(Frozen):
    relation_id: UUID
    unit: str = Field(description="organisation number of the unit that holds the relation")
    org_parent: str | None = Field(default=None, description="the unit's legal entity")
    hpr: Hpr | None = Field(default=None, description="a named professional, or the whole unit")
    purpose: str
    basis: str
    source: RelationSource | None = Field(default=None, description="None: recorded before "
                                          "sources were (issue 12)")
    started_at: datetime
    ends_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def self_declared(self) -> bool:
        return self.source == "self_declared"

    def of_organisation(self, who: Practitioner) -> bool:
        """The relation is held by the professional's organisation (unit or legal entity)."""
        return (self.unit in (who.unit, who.org_parent)
                or (self.org_parent is not None and self.org_parent == who.org_parent))

    def active(self, now: datetime) -> bool:
        end = min((t for t in (self.ends_at, self.ended_at) if t is not None), default=None)
        return self.started_at <= now and (end is None or now < end)

    def covers(self, who: Practitioner) -> bool:
        if self.hpr is not None:
            return who.hpr == self.hpr and self.unit in (who.unit, who.org_parent)
        return self.unit in (who.unit, who.org_parent)


class Block(Frozen):
    block_id: UUID
    target_kind: Literal["practitioner", "unit"]
    target: str = Field(description="HPR number or organisation number")
    since: datetime
    lifted_at: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _canonical(cls, data: object) -> object:
        """A practitioner's block names the canonical HPR number (no leading zeros)."""
        if isinstance(data, dict) and data.get("target_kind") == "practitioner":
            try:
                return {**data, "target": parse_hpr(data.get("target"))}
            except InvalidIdentifier as exc:
                raise ValueError(f"target: {exc}") from None
        return data

    def applies(self, who: Practitioner, now: datetime) -> bool:
        if self.since > now or (self.lifted_at is not None and self.lifted_at <= now):
            return False
        if self.target_kind == "practitioner":
            return who.hpr is not None and who.hpr == self.target
        return self.target in (who.unit, who.org_parent)


class EmergencyAccess(Frozen):
    access_id: UUID
    hpr: Hpr
    unit: str
    basis: DeclaredBasis
    granted_at: datetime
    expires_at: datetime

    def active(self, who: Practitioner, now: datetime) -> bool:
        return who.hpr == self.hpr and self.granted_at <= now < self.expires_at


class Consent(Frozen):
    consent_id: UUID
    sector: Sector
    recipient_org: str | None = None
    grantor: UUID | None = None
    grantor_role: str | None = None
    categories: frozenset[str]
    purpose: str
    valid_from: datetime
    valid_to: datetime | None = None
    withdrawn_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        if self.withdrawn_at is not None and self.withdrawn_at <= now:
            return False
        return self.valid_from <= now and (self.valid_to is None or now < self.valid_to)

    def covers(self, who: SectorOfficial, category: str) -> bool:
        return (self.sector == who.sector
                and (self.recipient_org is None or self.recipient_org == who.org)
                and category in self.categories)


class RestrictionKind(StrEnum):
    locked = "locked"                           # sperret for clinicians
    hidden_from_guardians = "hidden_from_guardians"


class Restriction(Frozen):
    restriction_id: UUID
    kind: RestrictionKind
    target: str = Field(description="an entry id, or a section (information category)")
    notify_on_open: bool = False
    since: datetime
    lifted_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.since <= now and (self.lifted_at is None or now < self.lifted_at)


class Guardian(Frozen):
    """Parental responsibility (foreldreansvar) of ``guardian`` for the patient."""

    guardian: UUID
    shares_address: bool
    since: datetime
    ended_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.since <= now and (self.ended_at is None or now < self.ended_at)


class Mandate(Frozen):
    """A mandate (fullmakt) from the patient to ``representative``, limited to categories
    (``record`` = everything the patient can see)."""

    mandate_id: UUID
    representative: UUID
    categories: frozenset[str]
    valid_from: datetime
    valid_to: datetime | None = None
    revoked_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        if self.revoked_at is not None and self.revoked_at <= now:
            return False
        return self.valid_from <= now and (self.valid_to is None or now < self.valid_to)


class DeviceAssignment(Frozen):
    client_id: str
    since: datetime
    ended_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.since <= now and (self.ended_at is None or now < self.ended_at)


class Facts(Frozen):
    """Everything the policy needs to know about one patient. An unknown patient has empty facts,
    so it is decided exactly like a known patient without relations."""

    patient_id: UUID
    registered: bool = False
    id_type: str | None = None
    birth_date: date | None = None
    notify_restricted_opened: bool = False
    notify_emergency_access: bool = False
    consent_level: Literal["basis", "full"] = "basis"   # helsenorge's samtykkenivå
    care_relations: tuple[CareRelation, ...] = ()
    blocks: tuple[Block, ...] = ()
    emergency_accesses: tuple[EmergencyAccess, ...] = ()
    consents: tuple[Consent, ...] = ()
    restrictions: tuple[Restriction, ...] = ()
    guardians: tuple[Guardian, ...] = ()
    mandates: tuple[Mandate, ...] = ()
    devices: tuple[DeviceAssignment, ...] = ()

    @classmethod
    def unknown(cls, patient_id: UUID) -> Facts:
        return cls(patient_id=patient_id)


# --- the answer ------------------------------------------------------------------------------

class Basis(StrEnum):
    """The legal basis an access rests on (logged with every access)."""

    care_relation = "care_relation"          # hpl § 25/45, tjenstlig behov
    emergency = "emergency"                  # akuttilgang: declared consent or nødrett
    own_record = "own_record"                # pasrl § 5-1
    guardian = "guardian"                    # pasrl § 3-4, helsenorge proxy rules
    mandate = "mandate"                      # fullmakt
    consent = "consent"                      # consent to a sector outside health care
    duty_to_notify = "duty_to_notify"        # hpl § 33, child welfare
    device_assignment = "device_assignment"
    administration = "administration"        # registering a person (no clinical content)
    log_control = "log_control"              # pasientjournalforskriften § 14
    none = "none"


class Obligation(StrEnum):
    log = "log"                              # record AccessLogged
    mark_emergency = "mark_emergency"        # the log entry says emergency access
    review = "review"                        # the unit leader reviews it afterwards
    hide_restricted = "hide_restricted"      # hide locked entries behind a marker
    hide_from_guardians = "hide_from_guardians"
    notify_patient = "notify_patient"        # the patient asked to be told


class Decision(Frozen):
    permit: bool
    reason: str = Field(description="a machine-readable reason code")
    message: str = Field(description="a sentence for the user; never says whether the "
                                     "patient exists unless the caller may know")
    basis: Basis = Basis.none
    decision_ref: UUID | None = Field(default=None, description="care relation, emergency "
                                      "access, consent or mandate the decision rests on")
    obligations: frozenset[Obligation] = frozenset({Obligation.log})
    hidden: frozenset[str] = Field(default=frozenset(), description="entries and sections the "
                                   "service must replace with a 'withheld' marker")
    categories: frozenset[str] | None = Field(default=None, description="the categories the "
                                              "caller may see; None = all")
