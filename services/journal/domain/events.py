"""The ``journal.events`` contract for patient administration: patients, episodes of care, IPLOS
functional assessments and service decisions (vedtak), DOMAIN.md §5.1 and §11 requirements 25-26.

Stream per patient: ``journal-<patient_id>`` (``stream_of``), where ``patient_id`` is the internal
UUID that is also the envelope's ``patient_id`` and the Kafka key. One stream holds a patient's
registration, episodes, assessments and decisions, so a grant is decided against the assessments
it rests on under one expected version.

The national id number appears only in ``PatientRegistered`` and, when the number itself changes
(a D-number replaced by a fødselsnummer), in ``PatientDetailsChanged``: never in keys, stream ids
or any other event. Sex is its own field and is never derived from the number (requirement 4).
Dates the registry reports on (KPR ``fra_dato``/``til_dato``) are calendar dates in Norway;
moments (an episode's start, an assessment) are aware datetimes.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from libs.access.identifiers import PersonIdType
from libs.events.registry import EventPayload, event

STREAM_PREFIX = "journal-"

Sex = Literal["female", "male", "other", "unknown"]
"""FHIR AdministrativeGender; Folkeregisteret's own field, never read from the number."""

EpisodeKind = Literal["home_care", "nursing_home", "gp", "legevakt", "hospital_stay"]
Score = Literal[1, 2, 3, 4, 5, 9]
"""IPLOS: 1 no problems ... 5 full need of help; 9 not relevant."""

OrgNr = Field(pattern=r"^\d{9}$", description="organisation number (ENH), mod-11 checked")
Hpr = Field(pattern=r"^\d{1,9}$", description="HPR number (Helsepersonellregisteret)")
Text = Field(min_length=1, max_length=2000)


def stream_of(patient_id: UUID) -> str:
    return f"{STREAM_PREFIX}{patient_id}"


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Name(_Value):
    given: str = Field(min_length=1, max_length=200, description="given and middle names")
    family: str = Field(min_length=1, max_length=200)


class Address(_Value):
    """A Norwegian address; ``municipality`` is the 4-digit kommunenummer the registry needs."""

    lines: tuple[str, ...] = Field(default=(), max_length=4)
    postal_code: str | None = Field(default=None, pattern=r"^\d{4}$")
    city: str | None = Field(default=None, max_length=200)
    municipality: str = Field(pattern=r"^\d{4}$", description="kommunenummer")
    district: str | None = Field(default=None, pattern=r"^\d{6}$",
                                 description="bydelsnummer: kommunenummer + 2 digits")


class Scope(_Value):
    """How much is granted (omfang): e.g. 4.5 hours per week; ``continuous`` for a stay."""

    unit: Literal["hours_per_week", "visits_per_week", "days_per_month", "continuous"]
    amount: float | None = Field(default=None, gt=0)


# --- patients ---------------------------------------------------------------------------------

@event("journal.PatientRegistered")
class PatientRegistered(EventPayload):
    national_id: str = Field(description="fnr, D-, H- or test number: only here, never a key")
    id_type: PersonIdType
    assigner: str | None = Field(default=None, description="who issued an H-number")
    name: Name
    birth_date: date
    sex: Sex
    address: Address
    regular_gp: str | None = Field(default=None, pattern=r"^\d{1,9}$",
                                   description="HPR number of the fastlege")
    registered_at: datetime


@event("journal.PatientDetailsChanged")
class PatientDetailsChanged(EventPayload):
    """Only what changed is set. A new national id (e.g. D-number -> fnr) comes with the birth
    date it implies; ``no_regular_gp`` records that the patient no longer has a fastlege."""

    national_id: str | None = None
    id_type: PersonIdType | None = None
    assigner: str | None = None
    birth_date: date | None = None
    name: Name | None = None
    sex: Sex | None = None
    address: Address | None = None
    regular_gp: str | None = Field(default=None, pattern=r"^\d{1,9}$")
    no_regular_gp: bool = False
    reason: str | None = Field(default=None, max_length=2000)
    changed_at: datetime


@event("journal.PatientDeceased")
class PatientDeceased(EventPayload):
    """The patient died on ``deceased_on``. A later one corrects the date: ``corrects`` holds
    the date it replaces and ``reason`` says why."""

    deceased_on: date
    corrects: date | None = None
    reason: str | None = Field(default=None, max_length=2000)
    recorded_at: datetime


# --- episodes of care ------------------------------------------------------------------------

@event("journal.EpisodeStarted")
class EpisodeStarted(EventPayload):
    episode_id: UUID
    kind: EpisodeKind
    unit: str = OrgNr
    started_at: datetime
    reason: str | None = Field(default=None, max_length=2000)


@event("journal.EpisodeEnded")
class EpisodeEnded(EventPayload):
    episode_id: UUID
    ended_at: datetime
    reason: str | None = Field(default=None, max_length=2000)


# --- IPLOS functional assessment ------------------------------------------------------------

@event("journal.IplosAssessed")
class IplosAssessed(EventPayload):
    """Scores per IPLOS variable. May be partial; a grant checks completeness (requirement 26)."""

    assessment_id: UUID
    scores: dict[str, Score]
    assessed_at: datetime
    assessed_by: str = Field(min_length=1, max_length=50,
                             description="HPR number, or the assessor's person id")


# --- service decisions (vedtak) -------------------------------------------------------------

@event("journal.ServiceApplied")
class ServiceApplied(EventPayload):
    decision_id: UUID
    service_code: str = Field(pattern=r"^\d{1,3}$", description="IPLOS tjenestekode")
    applied_on: date = Field(description="when the application was received")
    requested_scope: Scope | None = None
    note: str | None = Field(default=None, max_length=2000)


@event("journal.ServiceGranted")
class ServiceGranted(EventPayload):
    """A vedtak granting a service (KPR: tjenestekode, fra_dato, til_dato, provider orgnr)."""

    decision_id: UUID
    service_code: str = Field(pattern=r"^\d{1,3}$")
    from_date: date
    to_date: date | None = None
    scope: Scope
    provider: str = OrgNr
    assessment_id: UUID = Field(description="the IPLOS assessment the grant rests on")
    decided_on: date


@event("journal.ServiceRefused")
class ServiceRefused(EventPayload):
    decision_id: UUID
    reason: str = Text
    decided_on: date


@event("journal.ServiceEnded")
class ServiceEnded(EventPayload):
    decision_id: UUID
    ended_on: date
    reason: str | None = Field(default=None, max_length=2000)


# --- clinical record: notes, observations, problems, critical information (clinical.py) -------
# Every entry names who made it (HPR number), the unit (organisation number) and when. Entries
# are never changed in place: a correction is a new event that references the entry it corrects
# and carries a reason (DOMAIN.md §11 requirement 23).

NoteKind = Literal["nursing", "medical", "home_care_visit", "legevakt_contact",
                   "discharge_summary_received"]
NoteText = Field(min_length=1, max_length=20000)
Reason = Field(min_length=1, max_length=2000)
CriticalCategory = Literal[
    "drug_reaction", "other_allergy", "anaesthesia_complication", "critical_condition",
    "ongoing_treatment_or_implant", "treatment_limitation", "infection"]
"""Kjernejournal's kritisk informasjon: legemiddelreaksjon, annen allergi, anestesikomplikasjon,
kritisk tilstand, pågående behandling/implantat, behandlingsbegrensning, smitte."""
Severity = Literal["mild", "moderate", "severe"]


@event("journal.NoteDrafted")
class NoteDrafted(EventPayload):
    """A draft, or a new version of a draft with the same ``note_id`` (a draft is replaced by
    re-drafting; only a signed note is a journal entry, changed by ``NoteCorrected``)."""

    note_id: UUID
    kind: NoteKind
    text: str = NoteText
    author: str = Hpr
    unit: str = OrgNr
    episode_id: UUID | None = None
    drafted_at: datetime


@event("journal.NoteSigned")
class NoteSigned(EventPayload):
    note_id: UUID
    signed_by: str = Hpr
    signed_at: datetime


@event("journal.NoteCorrected")
class NoteCorrected(EventPayload):
    """A signed note's new text; ``replaces_version`` is the version it corrects (1 = original).
    The correction is signed by its author when made."""

    note_id: UUID
    replaces_version: int = Field(ge=1)
    text: str = NoteText
    reason: str = Reason
    author: str = Hpr
    unit: str = OrgNr
    corrected_at: datetime


@event("journal.ObservationRecorded")
class ObservationRecorded(EventPayload):
    observation_id: UUID
    code: str = Field(pattern=r"^\d{1,7}-\d$", description="LOINC code")
    value: float
    ucum: str = Field(min_length=1, max_length=20, description="UCUM unit, fixed per code")
    effective_at: datetime
    performer: str = Hpr
    unit: str = OrgNr
    recorded_at: datetime


@event("journal.ObservationCorrected")
class ObservationCorrected(EventPayload):
    observation_id: UUID
    value: float
    reason: str = Reason
    by: str = Hpr
    unit: str = OrgNr
    corrected_at: datetime


@event("journal.ObservationEnteredInError")
class ObservationEnteredInError(EventPayload):
    observation_id: UUID
    reason: str = Reason
    by: str = Hpr
    unit: str = OrgNr
    marked_at: datetime


@event("journal.ConditionRecorded")
class ConditionRecorded(EventPayload):
    condition_id: UUID
    system: Literal["ICPC-2", "ICD-10"]
    code: str = Field(min_length=1, max_length=10)
    display: str = Field(min_length=1, max_length=500)
    onset: date | None = None
    note: str | None = Field(default=None, max_length=2000)
    by: str = Hpr
    unit: str = OrgNr
    recorded_at: datetime


@event("journal.ConditionResolved")
class ConditionResolved(EventPayload):
    condition_id: UUID
    resolved_on: date
    reason: str | None = Field(default=None, max_length=2000)
    by: str = Hpr
    unit: str = OrgNr
    recorded_at: datetime


@event("journal.CriticalInfoRegistered")
class CriticalInfoRegistered(EventPayload):
    critical_id: UUID
    category: CriticalCategory
    substance: str | None = Field(default=None, max_length=200, description="for reactions")
    text: str | None = Field(default=None, max_length=2000)
    reaction: str | None = Field(default=None, max_length=2000)
    severity: Severity | None = None
    by: str = Hpr
    unit: str = OrgNr
    registered_at: datetime


@event("journal.CriticalInfoVerified")
class CriticalInfoVerified(EventPayload):
    critical_id: UUID
    by: str = Hpr
    unit: str = OrgNr
    verified_at: datetime


@event("journal.CriticalInfoRefuted")
class CriticalInfoRefuted(EventPayload):
    """Avkreftet: shown to be wrong (e.g. a tolerated dose); stays visible as refuted."""

    critical_id: UUID
    reason: str = Reason
    by: str = Hpr
    unit: str = OrgNr
    refuted_at: datetime


@event("journal.CriticalInfoRemoved")
class CriticalInfoRemoved(EventPayload):
    """Slettet: registered in error or no longer relevant."""

    critical_id: UUID
    reason: str = Reason
    by: str = Hpr
    unit: str = OrgNr
    removed_at: datetime


# --- process support: care plans (tiltaksplan/pleieplan) and tasks (process.py) ---------------
# A care plan holds goals (mål) and interventions (tiltak); a task (oppgave) is work for a unit,
# optionally for one person in it, due at a moment. Completing a task documents it: the note is
# an ordinary signed journal note (NoteDrafted + NoteSigned) that ``TaskCompleted`` names.

Title = Field(min_length=1, max_length=200)
TaskKind = Literal["home_care_visit", "follow_up", "message_reply", "other"]
GoalOutcome = Literal["achieved", "not_achieved", "cancelled"]


@event("journal.CarePlanCreated")
class CarePlanCreated(EventPayload):
    care_plan_id: UUID
    title: str = Title
    episode_id: UUID | None = None
    period_start: date | None = None
    period_end: date | None = None
    author: str = Hpr
    unit: str = OrgNr
    created_at: datetime


@event("journal.GoalAdded")
class GoalAdded(EventPayload):
    care_plan_id: UUID
    goal_id: UUID
    description: str = Text
    target_date: date | None = None
    by: str = Hpr
    unit: str = OrgNr
    added_at: datetime


@event("journal.GoalStatusChanged")
class GoalStatusChanged(EventPayload):
    """A goal's outcome; ``note`` says why (required when not achieved or cancelled)."""

    care_plan_id: UUID
    goal_id: UUID
    status: GoalOutcome
    note: str | None = Field(default=None, max_length=2000)
    by: str = Hpr
    unit: str = OrgNr
    changed_at: datetime


@event("journal.InterventionAdded")
class InterventionAdded(EventPayload):
    care_plan_id: UUID
    intervention_id: UUID
    description: str = Text
    frequency: str | None = Field(default=None, max_length=200,
                                  description="free text, e.g. 'daily 08:00'")
    service_code: str | None = Field(default=None, pattern=r"^\d{1,3}$",
                                     description="IPLOS tjenestekode the intervention is part of")
    by: str = Hpr
    unit: str = OrgNr
    added_at: datetime


@event("journal.InterventionStopped")
class InterventionStopped(EventPayload):
    care_plan_id: UUID
    intervention_id: UUID
    reason: str = Reason
    by: str = Hpr
    unit: str = OrgNr
    stopped_at: datetime


@event("journal.CarePlanCompleted")
class CarePlanCompleted(EventPayload):
    care_plan_id: UUID
    note: str | None = Field(default=None, max_length=2000)
    by: str = Hpr
    unit: str = OrgNr
    completed_at: datetime


@event("journal.CarePlanRevoked")
class CarePlanRevoked(EventPayload):
    """Entered in error (e.g. on the wrong patient); stays visible as revoked."""

    care_plan_id: UUID
    reason: str = Reason
    by: str = Hpr
    unit: str = OrgNr
    revoked_at: datetime


@event("journal.TaskCreated")
class TaskCreated(EventPayload):
    task_id: UUID
    kind: TaskKind
    title: str = Title
    description: str | None = Field(default=None, max_length=2000)
    unit: str = Field(pattern=r"^\d{9}$", description="organisation number of the assigned unit")
    assignee: str | None = Field(default=None, pattern=r"^\d{1,9}$",
                                 description="HPR number of a person in the unit")
    due_at: datetime
    care_plan_id: UUID | None = None
    intervention_id: UUID | None = None
    message_id: str | None = Field(default=None, min_length=1, max_length=100,
                                   description="the inbound message a message_reply task answers")
    created_by: str | None = Field(default=None, pattern=r"^\d{1,9}$",
                                   description="HPR number; None when the record made the task "
                                   "itself (a reply task for an inbound message)")
    created_at: datetime


@event("journal.TaskReassigned")
class TaskReassigned(EventPayload):
    """The task's whole new assignment: unit, person (None: anyone in the unit) and due time."""

    task_id: UUID
    unit: str = OrgNr
    assignee: str | None = Field(default=None, pattern=r"^\d{1,9}$")
    due_at: datetime
    reason: str | None = Field(default=None, max_length=2000)
    reassigned_by: str = Hpr
    reassigned_at: datetime


@event("journal.TaskCompleted")
class TaskCompleted(EventPayload):
    """Done and documented: ``note_id`` is the signed journal note written for it, or, for a
    ``message_reply`` task, ``message_id`` is the message we sent that answers (one of the two)."""

    task_id: UUID
    note_id: UUID | None = None
    message_id: str | None = Field(default=None, min_length=1, max_length=100)
    completed_by: str = Hpr
    completed_at: datetime


@event("journal.TaskCancelled")
class TaskCancelled(EventPayload):
    task_id: UUID
    reason: str = Reason
    cancelled_by: str = Hpr
    cancelled_at: datetime


# --- messaging: PLO messages, dialogmelding, epikrise, henvisning (messages.py) ---------------
# DOMAIN.md §7 and §11 requirements 27-29. A message is a journal document: stored whole, never
# changed; only its receipt status and the link to the message that answers it follow from later
# events. ``message_id`` is the business document's id (the sender's MsgId for an inbound
# message, a new UUID for ours) and is unique within the patient's record. Every inbound message
# gets an application receipt (applikasjonskvittering); an invalid one gets only that receipt.

MessageKind = Literal[
    "helseopplysninger", "helseopplysninger_til_lege", "melding_om_innlagt_pasient",
    "innleggelsesrapport", "utskrivningsrapport", "foresporsel", "svar_pa_foresporsel",
    "orientering_om_tjenestetilbud", "medisinske_opplysninger", "dodsmelding", "avviksmelding",
    "dialogmelding", "epikrise", "henvisning"]
"""PLO messages (v1.6) by their Norwegian names, plus dialogmelding (v1.1) and the basismeldinger
epikrise and henvisning."""
DialogType = Literal["foresporsel", "svar", "notat"]
"""A dialogmelding's type (helsefaglig dialog): a question, an answer, or a note (asks for no
answer)."""
ReceiverRole = Literal["sykepleietjeneste", "legetjeneste", "saksbehandler"]
"""The three communication parties every municipality registers: Sykepleietjeneste PO,
Legetjeneste PO, Saksbehandler pleie, omsorg, rehab."""
ReceiptStatus = Literal["ok", "error"]
MessageId = Field(min_length=1, max_length=100, pattern=r"^\S+$",
                  description="business document id (MsgId)")
HerId = Field(pattern=r"^\d{1,9}$", description="HER-id (Adresseregisteret)")
MessageText = Field(min_length=1, max_length=50000)
ReceiptError = Annotated[str, Field(min_length=1, max_length=1000)]


class Party(_Value):
    """A communication party in the Adresseregister, addressed by HER-id."""

    her_id: str = HerId
    name: str | None = Field(default=None, max_length=200)
    orgnr: str | None = Field(default=None, pattern=r"^\d{9}$",
                              description="organisation number (ENH), mod-11 checked")


@event("journal.MessageReceived")
class MessageReceived(EventPayload):
    """A valid inbound message, stored as a journal document. ``receiver_her`` is the HER-id of
    our communication party it was addressed to, ``receiver_role`` which of the three it is."""

    message_id: str = MessageId
    kind: MessageKind
    dialog_type: DialogType | None = None
    sender: Party
    receiver_her: str = HerId
    receiver_role: ReceiverRole
    refers_to: str | None = Field(default=None, min_length=1, max_length=100,
                                  description="the referral, epikrise or message it concerns")
    in_reply_to: str | None = Field(default=None, min_length=1, max_length=100)
    subject: str | None = Field(default=None, max_length=200)
    text: str = MessageText
    attachments: int = Field(default=0, ge=0)
    sent_at: datetime
    received_at: datetime


@event("journal.ApplicationReceiptSent")
class ApplicationReceiptSent(EventPayload):
    """Our applikasjonskvittering for an inbound message: ``ok``, or ``error`` with the reasons
    (Norwegian sentences for the sender's clinicians); an ``error`` message is not stored."""

    message_id: str = MessageId
    status: ReceiptStatus
    errors: tuple[ReceiptError, ...] = Field(default=(), max_length=20)
    to_her: str | None = Field(default=None, pattern=r"^\d{1,9}$",
                               description="the sender's HER-id; None when it was not one")
    sent_at: datetime


@event("journal.MessageSent")
class MessageSent(EventPayload):
    """A message we sent, written by ``by`` in ``unit``, from our party ``sender_her``."""

    message_id: str = MessageId
    kind: MessageKind
    dialog_type: DialogType | None = None
    sender_her: str = HerId
    to: Party
    refers_to: str | None = Field(default=None, min_length=1, max_length=100)
    in_reply_to: str | None = Field(default=None, min_length=1, max_length=100)
    subject: str | None = Field(default=None, max_length=200)
    text: str = MessageText
    attachments: int = Field(default=0, ge=0)
    by: str = Hpr
    unit: str = OrgNr
    sent_at: datetime


@event("journal.ApplicationReceiptReceived")
class ApplicationReceiptReceived(EventPayload):
    """The receiver's applikasjonskvittering for a message we sent: delivered (``ok``) or not."""

    message_id: str = MessageId
    status: ReceiptStatus
    errors: tuple[ReceiptError, ...] = Field(default=(), max_length=20)
    received_at: datetime
