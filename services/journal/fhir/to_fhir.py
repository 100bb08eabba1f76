"""FHIR R4 view of the journal: pure functions from ``patients.Patient`` (a stream's state) to
JSON-ready resource dicts. No I/O; a projection stores one new resource version per event, using
``touched`` to learn which resources an event changed and the mappers (or ``resource``) to build
them, with ``meta`` (versionId, lastUpdated) from its store.

Every mapper is ``mapper(p, entity, meta=None) -> dict`` (``patient(p, meta=None)`` has no
entity); the subject is ``Patient/<patient_id>``; resource ids are the domain's UUIDs.

Identifiers (DOMAIN.md §6, requirement 6): only ``IdentifierSystem`` systems. The national id
number appears only in ``Patient.identifier``: fnr and Tenor test numbers under FNR, D-numbers
under DNR (``identifiers.system_for``: a test number takes FNR or DNR by its first digit), a local
H-number as no-basis's local HNR (``system "HNR"``, type 8327#HNR, ``assigner``). Clinicians are
logical references by HPR number, units by organisation number (ENH). All free text (note text,
reasons, substances, reactions) goes through the consent export's mask, which turns any run of 11
or more digits into asterisks: a national id typed into a note never leaves this way. The cost is
that an exported note can differ from the journal in such digit runs; nothing else is changed.

Mapping (domain -> FHIR R4):

- ``Patient``: name (given split on spaces), ``gender`` = ``sex``, ``birthDate``,
  ``deceasedDateTime`` (a date), address with the kommunenummer as no-basis's
  ``no-basis-municipalitycode`` extension on ``Address.district`` (system ``…1.1.3402``; the
  municipality's *name* is not in our state, so ``district`` has the extension and no value) and
  the bydelsnummer as ``no-basis-urban-district`` on the address (system ``…1.1.3403``),
  ``generalPractitioner`` = the fastlege by HPR number.
- ``Episode`` -> ``EpisodeOfCare``: status active | finished (ended), type from
  ``CS_EPISODE_KIND``, ``managingOrganization`` = the unit (ENH), period.
- A signed note of kind ``home_care_visit`` or ``legevakt_contact`` is a contact ->
  ``Encounter`` (id = note id): status finished, class HH (home health) or EMER (emergency),
  period = the signing time (the note does not record when the visit itself took place),
  ``serviceProvider`` = the author's unit, participant = the author (HPR).
- ``Note`` -> ``DocumentReference`` (id = note id) and ``Composition`` (id = note id).
  DocumentReference: status ``current`` (our notes are never withdrawn), ``docStatus``
  preliminary (draft) | final (signed) | amended (signed, then corrected); content = the current
  text as base64 text/plain. Composition: status preliminary | final | amended, the text as the
  section's escaped XHTML narrative, attesters = the signer and each correction's author. Earlier
  versions and their reasons are the resource's ``_history`` (one version per event), not
  ``relatesTo``, which links *other* documents.
- ``Observation``: category vital-signs, LOINC code, ``valueQuantity`` in UCUM, status final |
  amended | entered-in-error (then no value but ``dataAbsentReason`` error), performer (HPR),
  correction reasons as ``note``.
- ``Condition``: problem-list-item, ICPC-2 ``urn:oid:…1.1.7170`` / ICD-10 ``urn:oid:…1.1.7110``,
  clinicalStatus active | resolved, onset/abatement dates, recorder (HPR).
- ``CriticalInfo`` (CAVE, Kjernejournal's kritisk informasjon), by category:

  ======================  ===============================================================
  drug_reaction           AllergyIntolerance, category medication (type left out: a drug
                          reaction may be an allergy or an intolerance)
  other_allergy           AllergyIntolerance, type allergy
  every other category    Flag, category clinical + ``CS_CRITICAL_CATEGORY``
  ======================  ===============================================================

  ==========  ========================  ========================  ================
  KJ state    AllergyIntolerance        AllergyIntolerance        Flag.status
              .verificationStatus       .clinicalStatus
  ==========  ========================  ========================  ================
  registered  unconfirmed               active                    active
  verified    confirmed                 active                    active
  refuted     refuted                   inactive                  inactive
  removed     entered-in-error          (absent: ait-2)           entered-in-error
  ==========  ========================  ========================  ================

  ``criticality``: severe -> high, mild and moderate -> low (R4: "low" = worst case not
  life-threatening); the exact severity is ``reaction.severity`` when a reaction is described
  (``manifestation.text``). ``code.text`` = the substance. A Flag keeps the KJ state, which its
  own status cannot tell apart, in the ``EXT_CRITICAL_STATUS`` extension.
- Not mapped: IPLOS assessments and service decisions (vedtak). A vedtak is an administrative
  decision (applied -> granted | refused -> ended) with a scope (omfang) and a provider; R4 has no
  resource for it. ``ServiceRequest`` (intent order) is the nearest, but "applied" and "refused"
  are not request states and the scope needs extensions; ``EpisodeOfCare`` is the care given, not
  the decision. They stay in the journal's own API and the KPR/IPLOS reports.
- ``CarePlan`` (process.py): status active | completed | entered-in-error (our "revoked" is
  "entered in error, e.g. on the wrong patient"; FHIR's ``revoked`` means "ended early"), intent
  plan, period (dates), author (HPR), the episode as ``supportingInfo`` (R4 CarePlan has no
  episode element), the closing note or revocation reason as ``note``. Goals are ``Goal``
  resources of their own (id = goal id, read and searched like any other) referenced from
  ``goal``: lifecycleStatus active | completed (achieved, not achieved; ``achievementStatus``
  tells which) | cancelled, the note as ``statusReason``. Interventions are ``activity.detail``
  (element id = intervention id): status in-progress | stopped (with the reason as
  ``statusReason``) | completed, the IPLOS service code as ``code``, the frequency as
  ``scheduledString``. A plan made in another record (``CarePlanRecorded``, an import) keeps
  its intent, categories, activity codes, ``addresses`` (Conditions) and ``encounter``; its
  goals (``GoalRecorded``) their lifecycle and achievement status, codings and ``addresses``.
- ``Task`` (process.py): status requested | completed | cancelled, intent order, ``code`` = the
  kind (``CS_TASK_KIND``) with the title as text, ``description``, ``for`` the patient,
  ``basedOn`` the care plan and ``EXT_CARE_PLAN_ACTIVITY`` the intervention (an activity has no
  reference of its own), ``owner`` = the unit (ENH) or, with an assignee, a contained
  PractitionerRole (HPR + unit), due time = ``restriction.period.end``, the signed note that
  documents a completed task as ``output`` (``DocumentReference/<note_id>``), a cancellation's
  reason as ``statusReason``.
"""


from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any
from uuid import UUID

from libs.events.registry import EventPayload
from services.journal import contract as ev
from services.journal.domain.clinical_state import Note, Observation, entry
from services.journal.domain.patients import Patient
from services.journal.fhir.elements import is_contact, Resource
from services.journal.fhir.clinical import (
    care_plan, condition, critical_info, critical_info_type, goal, observation, task,
)
from services.journal.fhir.results_out import (
    contact, diagnostic_report, immunization, procedure,
)
from services.journal.fhir.record import (
    composition, document_reference, encounter, episode_of_care, patient,
)


# --- every resource, and what an event touches -------------------------------------------------

def _entries(p: Patient, observations: Iterable[Observation] = (),
             ) -> Iterator[tuple[str, str, Callable[[], Resource]]]:
    """(type, id, build) for every current resource, built only when asked (the patient's
    ``observations`` are not part of ``Patient``: the caller gives those it wants)."""
    if not p.registered:
        return
    yield "Patient", str(p.patient_id), partial(patient, p)
    for e in p.episodes:
        yield "EpisodeOfCare", str(e.episode_id), partial(episode_of_care, p, e)
    for n in p.notes:
        if is_contact(n):
            yield "Encounter", str(n.note_id), partial(encounter, p, n)
        yield "DocumentReference", str(n.note_id), partial(document_reference, p, n)
        yield "Composition", str(n.note_id), partial(composition, p, n)
    for o in observations:
        yield "Observation", str(o.observation_id), partial(observation, p, o)
    for c in p.conditions:
        yield "Condition", str(c.condition_id), partial(condition, p, c)
    for x in p.critical_info:
        yield critical_info_type(x), str(x.critical_id), partial(critical_info, p, x)
    for plan in p.care_plans:
        yield "CarePlan", str(plan.care_plan_id), partial(care_plan, p, plan)
        for g in plan.goals:
            yield "Goal", str(g.goal_id), partial(goal, p, g)
    for t in p.tasks:
        yield "Task", str(t.task_id), partial(task, p, t)
    for x in p.immunizations:
        yield "Immunization", str(x.immunization_id), partial(immunization, p, x)
    for x in p.encounters:
        yield "Encounter", str(x.encounter_id), partial(contact, p, x)
    for x in p.procedures:
        yield "Procedure", str(x.procedure_id), partial(procedure, p, x)
    for x in p.reports:
        yield "DiagnosticReport", str(x.report_id), partial(diagnostic_report, p, x)


def resources_of(p: Patient, observations: Iterable[Observation] = (),
                 ) -> list[tuple[str, str, Resource]]:
    """Every current resource of the patient (and of ``observations``) as (type, id, resource),
    without ``meta``."""
    return [(kind, id_, build()) for kind, id_, build in _entries(p, observations)]


# type -> (the entities it comes from, their id field, which of them are of this type, mapper)
_SOURCES: dict[str, tuple[str, str, Callable[[Any], bool], Callable[..., Resource]]] = {
    "EpisodeOfCare": ("episodes", "episode_id", lambda _: True, episode_of_care),
    "Encounter": ("notes", "note_id", is_contact, encounter),
    "DocumentReference": ("notes", "note_id", lambda _: True, document_reference),
    "Composition": ("notes", "note_id", lambda _: True, composition),
    "Condition": ("conditions", "condition_id", lambda _: True, condition),
    "AllergyIntolerance": ("critical_info", "critical_id",
                           lambda x: critical_info_type(x) == "AllergyIntolerance", critical_info),
    "Flag": ("critical_info", "critical_id", lambda x: critical_info_type(x) == "Flag",
             critical_info),
    "CarePlan": ("care_plans", "care_plan_id", lambda _: True, care_plan),
    "Task": ("tasks", "task_id", lambda _: True, task),
    "Immunization": ("immunizations", "immunization_id", lambda _: True, immunization),
    "Procedure": ("procedures", "procedure_id", lambda _: True, procedure),
    "DiagnosticReport": ("reports", "report_id", lambda _: True, diagnostic_report),
}


def resource(p: Patient, kind: str, id_: str | UUID) -> Resource | None:
    """One current resource, or ``None`` when the patient has none of that type and id. Looks
    in the one collection the type comes from (a projection calls it for every event). An
    ``Observation`` is not in ``Patient``: build it with ``observation(p, o)``."""
    if not p.registered:
        return None
    if kind == "Patient":
        return patient(p) if str(id_) == str(p.patient_id) else None
    if kind == "Encounter":   # a contact from elsewhere, or a signed contact note
        found = next((x for x in p.encounters if str(x.encounter_id) == str(id_)), None)
        if found is not None:
            return contact(p, found)
    if kind == "Goal":   # a goal is kept in its care plan
        found_goal = next((g for x in p.care_plans for g in x.goals
                           if str(g.goal_id) == str(id_)), None)
        return goal(p, found_goal) if found_goal else None
    source = _SOURCES.get(kind)
    if source is None:
        return None
    collection, field, is_kind, build = source
    try:
        key = id_ if isinstance(id_, UUID) else UUID(str(id_))
    except ValueError:
        return None
    found = entry(getattr(p, collection), field, key)
    return build(p, found) if found is not None and is_kind(found) else None


Touched = list[tuple[str, UUID]]


def _note(p: Patient, note_id: UUID) -> Note | None:
    return entry(p.notes, "note_id", note_id)


def _note_touches(p: Patient, e: Any) -> Touched:
    out: Touched = [("DocumentReference", e.note_id), ("Composition", e.note_id)]
    n = _note(p, e.note_id)
    if isinstance(e, ev.NoteSigned) and n is not None and is_contact(n):
        out.insert(0, ("Encounter", e.note_id))
    return out


def _critical_touches(p: Patient, e: Any) -> Touched:
    x = next((x for x in p.critical_info if x.critical_id == e.critical_id), None)
    return [] if x is None else [(critical_info_type(x), e.critical_id)]


def _same(kind: str, attr: str) -> Callable[[Patient, Any], Touched]:
    return lambda p, e: [(kind, getattr(e, attr))]


def _goal_touches(p: Patient, e: Any) -> Touched:
    return [("CarePlan", e.care_plan_id), ("Goal", e.goal_id)]


_NOTHING: Callable[[Patient, Any], Touched] = lambda p, e: []  # noqa: E731

_TOUCHES: dict[type[EventPayload], Callable[[Patient, Any], Touched]] = {
    ev.PatientRegistered: lambda p, e: [("Patient", p.patient_id)],
    ev.PatientDetailsChanged: lambda p, e: [("Patient", p.patient_id)],
    ev.PatientDeceased: lambda p, e: [("Patient", p.patient_id)],
    ev.EpisodeStarted: _same("EpisodeOfCare", "episode_id"),
    ev.EpisodeEnded: _same("EpisodeOfCare", "episode_id"),
    ev.IplosAssessed: _NOTHING,  # not in FHIR (module doc)
    ev.ServiceApplied: _NOTHING,
    ev.ServiceGranted: _NOTHING,
    ev.ServiceRefused: _NOTHING,
    ev.ServiceEnded: _NOTHING,
    ev.NoteDrafted: _note_touches,
    ev.NoteSigned: _note_touches,
    ev.NoteCorrected: _note_touches,
    ev.ObservationRecorded: _same("Observation", "observation_id"),
    ev.ObservationCorrected: _same("Observation", "observation_id"),
    ev.ObservationEnteredInError: _same("Observation", "observation_id"),
    ev.ConditionRecorded: _same("Condition", "condition_id"),
    ev.ConditionResolved: _same("Condition", "condition_id"),
    ev.ConditionCoded: _same("Condition", "condition_id"),
    ev.ConditionCodings: _same("Condition", "condition_id"),
    ev.ObservationResultRecorded: _same("Observation", "observation_id"),
    ev.ImmunizationRecorded: _same("Immunization", "immunization_id"),
    ev.EncounterRecorded: _same("Encounter", "encounter_id"),
    ev.ProcedureRecorded: _same("Procedure", "procedure_id"),
    ev.DiagnosticReportRecorded: _same("DiagnosticReport", "report_id"),
    ev.CriticalInfoRegistered: _critical_touches,
    ev.CriticalInfoVerified: _critical_touches,
    ev.CriticalInfoRefuted: _critical_touches,
    ev.CriticalInfoRemoved: _critical_touches,
    ev.CarePlanCreated: _same("CarePlan", "care_plan_id"),
    ev.CarePlanRecorded: _same("CarePlan", "care_plan_id"),
    ev.GoalAdded: _goal_touches,   # the plan names its goals
    ev.GoalRecorded: _goal_touches,
    ev.GoalStatusChanged: _same("Goal", "goal_id"),
    ev.InterventionAdded: _same("CarePlan", "care_plan_id"),
    ev.InterventionStopped: _same("CarePlan", "care_plan_id"),
    ev.CarePlanCompleted: _same("CarePlan", "care_plan_id"),
    ev.CarePlanRevoked: _same("CarePlan", "care_plan_id"),
    ev.TaskCreated: _same("Task", "task_id"),
    ev.TaskReassigned: _same("Task", "task_id"),
    ev.TaskCompleted: _same("Task", "task_id"),  # its note comes as NoteDrafted + NoteSigned
    ev.TaskCancelled: _same("Task", "task_id"),
    # Messages are no FHIR resource here; a reply task is made and completed by its own
    # TaskCreated / TaskCompleted in the same append, which touch the Task.
    ev.MessageReceived: _NOTHING,
    ev.MessageSent: _NOTHING,
    ev.ApplicationReceiptSent: _NOTHING,
    ev.ApplicationReceiptReceived: _NOTHING,
    # § 5-1: what a patient is shown; the resources themselves do not change
    ev.EntryWithheldFromPatient: _NOTHING,
    ev.EntryWithholdingLifted: _NOTHING,
    ev.CareTeamMessageReceived: _NOTHING,   # its reply Task comes as its own TaskCreated
    ev.CareTeamReplySent: _NOTHING,
}
MAPPED_EVENTS: frozenset[type[EventPayload]] = frozenset(_TOUCHES)
"""Every journal event type ``touched`` knows, including those that touch no resource."""


class UnmappedEvent(LookupError):
    """A journal event type ``touched`` does not know: add it to ``_TOUCHES``."""


def touched(p_after: Patient, payload: EventPayload) -> Touched:
    """The resources (type, id) that ``payload`` created or changed, given the state after it.

    An event type without a mapping raises ``UnmappedEvent`` rather than return ``[]``, so a
    projection never silently skips a change."""
    try:
        which = _TOUCHES[type(payload)]
    except KeyError:
        raise UnmappedEvent(f"no FHIR mapping for {payload.event_type}") from None
    return which(p_after, payload)
