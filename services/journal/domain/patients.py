"""Patients: registration, changed details and death; the state of a ``journal-<patient_id>``
stream and its ``evolve``.

``Patient`` is the stream's state: who the patient is, plus the episodes, IPLOS assessments
and service decisions that ``episodes.py`` decides on, the clinical record of ``clinical.py``
(but its observations, a series without bound, folded on their own by ``clinical_state``) and
the care plans and tasks of ``process.py`` and the messages of ``messages.py``. ``evolve`` here
is the one fold for the stream; it hands care events to ``episodes.evolve``, clinical ones to
``clinical.evolve``, process-support ones to ``process.evolve`` and messaging ones (and a reply
task's link to its question) to ``messages.evolve``.

Rules: a patient is registered once (Conflict); the national id is validated with the
environment's flags (production refuses test numbers, development and test accept only test
numbers) and a refusal carries the identifier library's message (Invalid); the kommunenummer has
4 digits (Invalid).
After death nothing changes except the death itself (its date, with a reason) and the closing of
open episodes and decisions (``episodes.py``), so a dead patient's services get their end dates;
messages are still received, sent and answered (``messages.py``: a death notice comes after death).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from uuid import UUID

from pydantic import Field

from libs.events.registry import EventPayload
from libs.kernel.errors import Conflict, Invalid
from libs.kernel.identifiers import InvalidIdentifier, PersonId, PersonIdType, parse_person_id
from libs.kernel.time import Day, local_day
from services.journal import contract as ev
from services.journal.contract import Address, Name, Sex
from services.journal.domain import (
    care_team, clinical_state, contacts, immunizations, messages_state, procedures,
    process_state, withheld,
)
from services.journal.domain import episodes as care
from services.journal.domain.base import Command, Frozen, require_alive, require_registered
from services.journal.domain.care_team import CareTeamMessage
from services.journal.domain.clinical_state import Condition, CriticalInfo, Note
from services.journal.domain.episodes import Assessment, Episode, ServiceDecision
from services.journal.domain.contacts import Encounter
from services.journal.domain.immunizations import Immunization
from services.journal.domain.procedures import Procedure, Report
from services.journal.domain.messages_state import Message, Receipt
from services.journal.domain.process_state import CarePlan, Task
from services.journal.domain.withheld import Withholding


class Patient(Frozen):
    patient_id: UUID
    registered: bool = False
    national_id: str | None = Field(default=None, repr=False)  # never printed, logged or keyed
    id_type: PersonIdType | None = None
    assigner: str | None = None
    name: Name | None = None
    birth_date: date | None = None
    sex: Sex | None = None
    address: Address | None = None
    regular_gp: str | None = None
    deceased_on: date | None = None
    episodes: tuple[Episode, ...] = ()
    assessments: tuple[Assessment, ...] = ()
    decisions: tuple[ServiceDecision, ...] = ()
    notes: tuple[Note, ...] = ()
    conditions: tuple[Condition, ...] = ()
    critical_info: tuple[CriticalInfo, ...] = ()
    care_plans: tuple[CarePlan, ...] = ()
    tasks: tuple[Task, ...] = ()
    messages: tuple[Message, ...] = ()
    receipts: tuple[Receipt, ...] = ()  # every receipt we sent, also for messages not stored
    withheld_from_patient: tuple[Withholding, ...] = ()  # § 5-1 decisions in force
    care_team_messages: tuple[CareTeamMessage, ...] = ()  # with the patient (req. 52)
    immunizations: tuple[Immunization, ...] = ()
    encounters: tuple[Encounter, ...] = ()   # contacts from elsewhere (contacts.py)
    procedures: tuple[Procedure, ...] = ()
    reports: tuple[Report, ...] = ()          # diagnostic reports

    @classmethod
    def unknown(cls, patient_id: UUID) -> Patient:
        return cls(patient_id=patient_id)


# --- commands --------------------------------------------------------------------------------

class AddressIn(Command):
    """An address as a client sends it; checked and turned into ``contract.Address``."""

    lines: list[str] = Field(default=[], max_length=4)
    postal_code: str | None = Field(default=None, max_length=20)
    city: str | None = Field(default=None, max_length=200)
    municipality: str = Field(max_length=20, description="kommunenummer, 4 digits")
    district: str | None = Field(default=None, max_length=20, description="bydelsnummer")


class RegisterPatient(Command):
    national_id: str = Field(min_length=1, max_length=20)
    assigner: str | None = Field(default=None, max_length=200, description="issuer of an H-number")
    birth_date: Day | None = Field(default=None, description="required only when the number "
                                    "encodes no birth date; else it must match the number")
    name: Name
    sex: Sex
    address: AddressIn
    regular_gp: str | None = Field(default=None, description="HPR number of the fastlege")


class ChangeDetails(Command):
    """Set only what changes. ``birth_date`` must agree with the (new or current) number."""

    national_id: str | None = Field(default=None, min_length=1, max_length=20)
    assigner: str | None = Field(default=None, max_length=200)
    birth_date: Day | None = None
    name: Name | None = None
    sex: Sex | None = None
    address: AddressIn | None = None
    regular_gp: str | None = None
    no_regular_gp: bool = False
    reason: str | None = Field(default=None, max_length=2000)


class RecordDeath(Command):
    deceased_on: Day
    reason: str | None = Field(default=None, max_length=2000,
                               description="required when correcting an earlier date")


# --- checks ----------------------------------------------------------------------------------

def _person_id(value: str, assigner: str | None, *, production: bool,
               rule_2032: bool) -> PersonId:
    try:
        return parse_person_id(value, allow_synthetic=not production, allow_real=production,
                               assigner=assigner, rule_2032=rule_2032)
    except InvalidIdentifier as exc:
        raise Invalid(str(exc)) from None


def _stored_id(p: Patient) -> PersonId:
    """The registered number re-read for the birth date it encodes (it was valid when stored;
    should a rule have changed since, it is taken to encode no date)."""
    try:
        return parse_person_id(p.national_id or "", assigner=p.assigner, rule_2032=True)
    except InvalidIdentifier:
        return PersonId(p.national_id or "", p.id_type or PersonIdType.fnr, None, p.assigner)


def _birth_date(pid: PersonId, given: date | None) -> date | None:
    if pid.birth_date is not None and given is not None and given != pid.birth_date:
        raise Invalid("birth_date does not match the date encoded in the national id number")
    return given or pid.birth_date


def _address(a: AddressIn) -> Address:
    if not (len(a.municipality) == 4 and a.municipality.isdigit()):
        raise Invalid("address.municipality: a municipality number (kommunenummer) is 4 digits")
    if a.postal_code is not None and not (len(a.postal_code) == 4 and a.postal_code.isdigit()):
        raise Invalid("address.postal_code: a Norwegian postal code is 4 digits")
    if a.district is not None and not (len(a.district) == 6 and a.district.isdigit()
                                       and a.district.startswith(a.municipality)):
        raise Invalid("address.district: a city district number (bydelsnummer) is the "
                      "municipality number followed by 2 digits")
    return Address(lines=tuple(x.strip() for x in a.lines if x.strip()),
                   postal_code=a.postal_code, city=a.city, municipality=a.municipality,
                   district=a.district)


def _hpr(value: str | None) -> str | None:
    if value is not None and not (value.isdigit() and 1 <= len(value) <= 9):
        raise Invalid("regular_gp: an HPR number is 1 to 9 digits")
    return value


# --- decisions -------------------------------------------------------------------------------

def register_patient(p: Patient, c: RegisterPatient, now: datetime, *, production: bool,
                     rule_2032: bool = False) -> list[EventPayload]:
    if p.registered:
        raise Conflict("The patient is already registered.")
    pid = _person_id(c.national_id, c.assigner, production=production, rule_2032=rule_2032)
    birth = _birth_date(pid, c.birth_date)
    if birth is None:
        raise Invalid("birth_date is required when the number does not encode a birth date")
    if birth > local_day(now):
        raise Invalid("birth_date is in the future")
    return [ev.PatientRegistered(
        national_id=pid.value, id_type=pid.type, assigner=pid.assigner, name=c.name,
        birth_date=birth, sex=c.sex, address=_address(c.address),
        regular_gp=_hpr(c.regular_gp), registered_at=now)]


def change_details(p: Patient, c: ChangeDetails, now: datetime, *, production: bool,
                   rule_2032: bool = False) -> list[EventPayload]:
    """Returns no event when every given detail equals the current one (a repeated request)."""
    require_alive(p)
    if not c.model_fields_set - {"reason"}:
        raise Invalid("Nothing to change: give at least one detail.")
    if c.assigner is not None and c.national_id is None:
        raise Invalid("assigner comes with the new national_id it issued.")
    if c.regular_gp is not None and c.no_regular_gp:
        raise Invalid("Give either a new regular_gp or no_regular_gp, not both.")
    changes: dict = {}
    if c.national_id is not None:
        pid = _person_id(c.national_id, c.assigner, production=production,
                         rule_2032=rule_2032)
        if pid.value != p.national_id or pid.assigner != p.assigner:
            changes |= {"national_id": pid.value, "id_type": pid.type, "assigner": pid.assigner}
    else:
        pid = _stored_id(p)
    birth = _birth_date(pid, c.birth_date) or p.birth_date
    if birth is not None and birth > local_day(now):
        raise Invalid("birth_date is in the future")
    address = _address(c.address) if c.address is not None else None
    new = {"birth_date": birth, "name": c.name, "sex": c.sex, "address": address,
           "regular_gp": _hpr(c.regular_gp)}
    changes |= {k: v for k, v in new.items() if v is not None and v != getattr(p, k)}
    if c.no_regular_gp and p.regular_gp is not None:
        changes["no_regular_gp"] = True
    if not changes:
        return []
    return [ev.PatientDetailsChanged(**changes, reason=c.reason, changed_at=now)]


def record_death(p: Patient, c: RecordDeath, now: datetime) -> list[EventPayload]:
    """The first call records the death; a later one corrects its date and needs a reason."""
    require_registered(p)
    if c.deceased_on > local_day(now):
        raise Invalid("deceased_on is in the future")
    if p.birth_date is not None and c.deceased_on < p.birth_date:
        raise Invalid("deceased_on is before the patient's birth date")
    if p.deceased_on is None:
        return [ev.PatientDeceased(deceased_on=c.deceased_on, reason=c.reason, recorded_at=now)]
    if c.deceased_on == p.deceased_on:
        raise Conflict("The patient is already recorded as deceased on that date.")
    if not c.reason:
        raise Invalid("Correcting the date of death needs a reason.")
    return [ev.PatientDeceased(deceased_on=c.deceased_on, corrects=p.deceased_on,
                               reason=c.reason, recorded_at=now)]


# --- evolve ----------------------------------------------------------------------------------

def evolve(p: Patient, e: EventPayload) -> Patient:
    match e:
        case ev.PatientRegistered():
            return p.model_copy(update={
                "registered": True, "national_id": e.national_id, "id_type": e.id_type,
                "assigner": e.assigner, "name": e.name, "birth_date": e.birth_date,
                "sex": e.sex, "address": e.address, "regular_gp": e.regular_gp})
        case ev.PatientDetailsChanged():
            fields = ("national_id", "id_type", "birth_date", "name", "sex", "address",
                      "regular_gp")
            update = {f: getattr(e, f) for f in fields if getattr(e, f) is not None}
            if e.national_id is not None:
                update["assigner"] = e.assigner
            if e.no_regular_gp:
                update["regular_gp"] = None
            return p.model_copy(update=update)
        case ev.PatientDeceased():
            return p.model_copy(update={"deceased_on": e.deceased_on})
    p = clinical_state.evolve(care.evolve(p, e), e)
    p = messages_state.evolve(process_state.evolve(p, e), e)
    p = immunizations.evolve(care_team.evolve(withheld.evolve(p, e), e), e)
    return procedures.evolve(contacts.evolve(p, e), e)


def fold(patient_id: UUID, payloads: Iterable[EventPayload]) -> Patient:
    p = Patient.unknown(patient_id)
    for e in payloads:
        p = evolve(p, e)
    return p
