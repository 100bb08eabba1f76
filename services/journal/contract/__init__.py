"""The journal's published events (``journal.events``): the one module other services import.

One module per area: ``patients`` (registration, episodes, IPLOS, service decisions),
``clinical`` (notes, observations, conditions, critical information), ``process`` (care plans,
tasks), ``messages`` (PLO, dialogmelding, epikrise, henvisning), ``care_team`` (the
patient's messages with their care team), ``withheld`` (entries withheld from the patient) and
``values`` (the stream, the value objects and field constraints they share). Everything is re-exported here, so
``from services.journal.contract import PatientRegistered`` is the way to name an event.

A manifest lists ``services.journal.contract``, and ``Registry.of`` finds every journal event
it re-exports.
"""

from __future__ import annotations

from libs.events.registry import EventPayload
from services.journal.contract.care_team import CareTeamMessageReceived, CareTeamReplySent
from services.journal.contract.clinical import (
    ConditionRecorded, ConditionResolved, CriticalCategory, CriticalInfoRefuted,
    CriticalInfoRegistered, CriticalInfoRemoved, CriticalInfoVerified, NoteCorrected,
    NoteDrafted, NoteKind, NoteSigned, NoteText, ObservationCorrected, ObservationEnteredInError,
    ObservationRecorded, Severity,
)
from services.journal.contract.conditions import ConditionCoded, ConditionCodings
from services.journal.contract.encounters import EncounterRecorded
from services.journal.contract.procedures import DiagnosticReportRecorded, ProcedureRecorded
from services.journal.contract.observations import (
    Coded, Component, ImmunizationRecorded, ImmunizationStatus, ObservationResultRecorded,
    Quantity,
)
from services.journal.contract.messages import (
    ApplicationReceiptReceived, ApplicationReceiptSent, DialogType, HerId, MessageId,
    MessageKind, MessageReceived, MessageSent, MessageText, Party, ReceiptError, ReceiptStatus,
    ReceiverRole,
)
from services.journal.contract.patients import (
    EpisodeEnded, EpisodeKind, EpisodeStarted, IplosAssessed, PatientDeceased,
    PatientDetailsChanged, PatientRegistered, Score, ServiceApplied, ServiceEnded,
    ServiceGranted, ServiceRefused,
)
from services.journal.contract.process import (
    ActivityStatus, CarePlanCompleted, CarePlanCreated, CarePlanRecorded, CarePlanRevoked,
    GoalAdded, GoalLifecycle, GoalOutcome, GoalRecorded, GoalStatusChanged, InterventionAdded,
    InterventionStopped, PlanIntent, RecordedActivity, TaskCancelled, TaskCompleted,
    TaskCreated, TaskKind, TaskReassigned, Title,
)
from services.journal.contract.values import (
    STREAM_PREFIX, Address, Hpr, Name, OrgNr, Reason, Scope, Sex, Text, Value, stream_of,
)
from services.journal.contract.withheld import (
    EntryWithheldFromPatient, EntryWithholdingLifted, WithholdableSection,
)

EVENTS: tuple[type[EventPayload], ...] = tuple(
    v for v in list(globals().values())
    if isinstance(v, type) and issubclass(v, EventPayload) and "event_type" in vars(v))

__all__ = [
    "EVENTS", "EventPayload", "STREAM_PREFIX", "Address", "ApplicationReceiptReceived",
    "ApplicationReceiptSent", "CareTeamMessageReceived", "CareTeamReplySent",
    "ActivityStatus", "CarePlanCompleted", "CarePlanCreated", "CarePlanRecorded",
    "CarePlanRevoked", "Coded", "Component", "GoalLifecycle", "GoalRecorded", "PlanIntent",
    "RecordedActivity",
    "ConditionCoded", "ConditionCodings", "DiagnosticReportRecorded", "EncounterRecorded",
    "ImmunizationRecorded", "ProcedureRecorded",
    "ImmunizationStatus",
    "ObservationResultRecorded", "Quantity",
    "ConditionRecorded", "ConditionResolved", "CriticalCategory", "EntryWithheldFromPatient",
    "EntryWithholdingLifted", "CriticalInfoRefuted",
    "CriticalInfoRegistered", "CriticalInfoRemoved", "CriticalInfoVerified", "DialogType",
    "EpisodeEnded", "EpisodeKind", "EpisodeStarted", "GoalAdded", "GoalOutcome",
    "GoalStatusChanged", "HerId", "Hpr", "InterventionAdded", "InterventionStopped",
    "IplosAssessed", "MessageId", "MessageKind", "MessageReceived", "MessageSent",
    "MessageText", "Name", "NoteCorrected", "NoteDrafted", "NoteKind", "NoteSigned", "NoteText",
    "ObservationCorrected", "ObservationEnteredInError", "ObservationRecorded", "OrgNr",
    "Party", "PatientDeceased", "PatientDetailsChanged", "PatientRegistered", "ReceiptError",
    "ReceiptStatus", "Reason", "ReceiverRole", "Scope", "Score", "ServiceApplied",
    "ServiceEnded", "ServiceGranted", "ServiceRefused", "Severity", "Sex", "TaskCancelled",
    "TaskCompleted", "TaskCreated", "TaskKind", "TaskReassigned", "Text", "Title", "Value",
    "WithholdableSection", "stream_of",
]
