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
  episode element), the closing note or revocation reason as ``note``. Goals are contained
  ``Goal`` resources (id = goal id) referenced from ``goal``: lifecycleStatus active | completed
  (achieved, not achieved; ``achievementStatus`` tells which) | cancelled, the note as
  ``statusReason``. Interventions are ``activity.detail`` (element id = intervention id): status
  in-progress | stopped (with the reason as ``statusReason``), the IPLOS service code as
  ``code``, the frequency as ``scheduledString``.
- ``Task`` (process.py): status requested | completed | cancelled, intent order, ``code`` = the
  kind (``CS_TASK_KIND``) with the title as text, ``description``, ``for`` the patient,
  ``basedOn`` the care plan and ``EXT_CARE_PLAN_ACTIVITY`` the intervention (an activity has no
  reference of its own), ``owner`` = the unit (ENH) or, with an assignee, a contained
  PractitionerRole (HPR + unit), due time = ``restriction.period.end``, the signed note that
  documents a completed task as ``output`` (``DocumentReference/<note_id>``), a cancellation's
  reason as ``statusReason``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime
from functools import partial
from html import escape
from typing import Any
from uuid import UUID

from libs.access.fhir import CODE_BASE, V3_ACT_CODE, _coding, _instant, _org, _text
from libs.access.identifiers import (
    HNR_TYPE_CODE, IdentifierSystem, PersonId, PersonIdType, system_for,
)
from libs.access.policy import local_day
from libs.events.registry import EventPayload
from services.journal.codes.lists import DIAGNOSIS_SYSTEMS, IPLOS_SERVICE, service_code
from services.journal.domain import events as ev
from services.journal.domain.clinical import (
    CATEGORY_NO, VITALS, Condition, CriticalInfo, Note, Observation,
)
from services.journal.domain.episodes import Episode
from services.journal.domain.patients import Patient
from services.journal.domain.process import KIND_NO as TASK_KIND_NO
from services.journal.domain.process import CarePlan, Goal, Intervention, Task

CS_EPISODE_KIND = f"{CODE_BASE}/CodeSystem/episode-kind"
CS_NOTE_KIND = f"{CODE_BASE}/CodeSystem/note-kind"
CS_CRITICAL_CATEGORY = f"{CODE_BASE}/CodeSystem/critical-information-category"
CS_CRITICAL_STATUS = f"{CODE_BASE}/CodeSystem/critical-information-status"
CS_TASK_KIND = f"{CODE_BASE}/CodeSystem/task-kind"
EXT_CARE_PLAN_ACTIVITY = f"{CODE_BASE}/StructureDefinition/care-plan-activity"
EXT_CRITICAL_STATUS = f"{CODE_BASE}/StructureDefinition/critical-information-status"

NO_SD = "http://hl7.no/fhir/StructureDefinition"
EXT_MUNICIPALITY = f"{NO_SD}/no-basis-municipalitycode"
EXT_URBAN_DISTRICT = f"{NO_SD}/no-basis-urban-district"
CS_URBAN_DISTRICT = "urn:oid:2.16.578.1.12.4.1.1.3403"  # bydelsnummer (a code system)

THO = "http://terminology.hl7.org/CodeSystem"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
XHTML = "http://www.w3.org/1999/xhtml"

# Norwegian (bokmål) text shown to clinicians, in one place.
EPISODE_KIND_NO = {"home_care": "hjemmetjenester", "nursing_home": "sykehjem",
                   "gp": "fastlege", "legevakt": "legevakt", "hospital_stay": "sykehusopphold"}
NOTE_KIND_NO = {"nursing": "Sykepleienotat", "medical": "Legenotat",
                "home_care_visit": "Besøksnotat hjemmetjenester",
                "legevakt_contact": "Legevaktsnotat",
                "discharge_summary_received": "Mottatt epikrise"}
CRITICAL_STATUS_NO = {"registered": "registrert", "verified": "verifisert",
                      "refuted": "avkreftet", "removed": "slettet"}

CONTACT_CLASS = {"home_care_visit": ("HH", "home health"),
                 "legevakt_contact": ("EMER", "emergency")}
OBSERVATION_STATUS = {"final": "final", "amended": "amended",
                      "entered_in_error": "entered-in-error"}
ALLERGY_CATEGORIES = frozenset({"drug_reaction", "other_allergy"})
ALLERGY_VERIFICATION = {"registered": "unconfirmed", "verified": "confirmed",
                        "refuted": "refuted", "removed": "entered-in-error"}
ALLERGY_CLINICAL = {"registered": "active", "verified": "active", "refuted": "inactive"}
FLAG_STATUS = {"registered": "active", "verified": "active", "refuted": "inactive",
               "removed": "entered-in-error"}
CRITICALITY = {"mild": "low", "moderate": "low", "severe": "high"}
CARE_PLAN_STATUS = {"active": "active", "completed": "completed", "revoked": "entered-in-error"}
GOAL_LIFECYCLE = {"active": "active", "achieved": "completed", "not_achieved": "completed",
                  "cancelled": "cancelled"}
GOAL_ACHIEVEMENT = {"achieved": ("achieved", "Achieved"),
                    "not_achieved": ("not-achieved", "Not Achieved")}
ACTIVITY_STATUS = {"active": "in-progress", "stopped": "stopped"}
_DIAGNOSIS_URI = {s.name: s.uri for s in DIAGNOSIS_SYSTEMS}
IPLOS_SERVICE_URI = IPLOS_SERVICE.uri
_NOT_XML = re.compile(r"[^\t\n\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

Resource = dict[str, Any]


# --- small pieces ----------------------------------------------------------------------------

def _concept(system: str, code: str, display: str | None = None) -> dict:
    return {"coding": [_coding(system, code, display)]}


def _practitioner(hpr: str) -> dict:
    return {"type": "Practitioner", "identifier": {"system": IdentifierSystem.HPR, "value": hpr}}


def _subject(p: Patient) -> dict:
    return {"reference": f"Patient/{p.patient_id}"}


def _meta(meta: dict | None) -> dict:
    """``meta`` as FHIR wants it: versionId a string, lastUpdated an instant."""
    if not meta:
        return {}
    out = dict(meta)
    if "versionId" in out:
        out["versionId"] = str(out["versionId"])
    if isinstance(out.get("lastUpdated"), datetime):
        out["lastUpdated"] = _instant(out["lastUpdated"])
    return {"meta": out}


def _head(kind: str, id_: UUID, meta: dict | None) -> Resource:
    return {"resourceType": kind, "id": str(id_)} | _meta(meta)


def _date(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


def _drop_none(res: Resource) -> Resource:
    return {k: v for k, v in res.items() if v is not None and v != [] and v != {}}


def is_contact(note: Note) -> bool:
    """A signed visit or legevakt note: it stands for an ``Encounter``."""
    return note.status == "signed" and note.kind in CONTACT_CLASS


# --- Patient -----------------------------------------------------------------------------------

def _identifier(p: Patient) -> dict:
    pid = PersonId(p.national_id or "", p.id_type or PersonIdType.fnr, None, p.assigner)
    ident: dict[str, Any] = {"system": system_for(pid), "value": p.national_id}
    if p.id_type == "hnr":
        ident = {"type": _concept(IdentifierSystem.HNR_TYPE, HNR_TYPE_CODE)} | ident | {
            "assigner": {"display": _text(p.assigner or "")}}
    return ident


def _address(p: Patient) -> dict | None:
    a = p.address
    if a is None:
        return None
    out: dict[str, Any] = {}
    if a.district:
        out["extension"] = [{"url": EXT_URBAN_DISTRICT,
                             "valueCoding": _coding(CS_URBAN_DISTRICT, a.district)}]
    out |= {"use": "home", "type": "physical"}
    if a.lines:
        out["line"] = list(a.lines)
    if a.city:
        out["city"] = a.city
    out["_district"] = {"extension": [{"url": EXT_MUNICIPALITY, "valueCoding": _coding(
        IdentifierSystem.MUNICIPALITY, a.municipality)}]}
    if a.postal_code:
        out["postalCode"] = a.postal_code
    return out | {"country": "NO"}


def patient(p: Patient, meta: dict | None = None) -> Resource:
    if not p.registered:
        raise ValueError("an unregistered patient has no Patient resource")
    name = None if p.name is None else [{
        "use": "official", "text": f"{p.name.given} {p.name.family}",
        "family": p.name.family, "given": p.name.given.split()}]
    return _drop_none(_head("Patient", p.patient_id, meta) | {
        "identifier": [_identifier(p)] if p.national_id else None,
        "active": True,
        "name": name,
        "gender": p.sex,
        "birthDate": _date(p.birth_date),
        "deceasedDateTime": _date(p.deceased_on),
        "address": [a] if (a := _address(p)) else None,
        "generalPractitioner": [_practitioner(p.regular_gp)] if p.regular_gp else None,
    })


# --- episodes and contacts ---------------------------------------------------------------------

def episode_of_care(p: Patient, e: Episode, meta: dict | None = None) -> Resource:
    period = {"start": _instant(e.started_at)} | (
        {"end": _instant(e.ended_at)} if e.ended_at is not None else {})
    return _head("EpisodeOfCare", e.episode_id, meta) | {
        "status": "active" if e.ended_at is None else "finished",
        "type": [_concept(CS_EPISODE_KIND, e.kind, EPISODE_KIND_NO[e.kind])],
        "patient": _subject(p),
        "managingOrganization": _org(e.unit),
        "period": period,
    }


def encounter(p: Patient, note: Note, meta: dict | None = None) -> Resource:
    if not is_contact(note):
        raise ValueError("only a signed home-care visit or legevakt note is an Encounter")
    code, display = CONTACT_CLASS[note.kind]
    at = _instant(note.signed_at)  # type: ignore[arg-type]  # signed
    first = note.versions[0]
    return _drop_none(_head("Encounter", note.note_id, meta) | {
        "status": "finished",
        "class": _coding(V3_ACT_CODE, code, display),
        "subject": _subject(p),
        "episodeOfCare": ([{"reference": f"EpisodeOfCare/{note.episode_id}"}]
                          if note.episode_id else None),
        "participant": [{"type": [_concept(f"{THO}/v3-ParticipationType", "PPRF",
                                           "primary performer")],
                         "individual": _practitioner(first.by)}],
        "period": {"start": at, "end": at},
        "serviceProvider": _org(first.unit),
    })


# --- notes -------------------------------------------------------------------------------------

def _note_kind(note: Note) -> dict:
    return _concept(CS_NOTE_KIND, note.kind, NOTE_KIND_NO[note.kind]) | {
        "text": NOTE_KIND_NO[note.kind]}


def _note_status(note: Note) -> str:
    if note.status == "draft":
        return "preliminary"
    return "amended" if len(note.versions) > 1 else "final"


def _note_date(note: Note) -> str:
    last = note.versions[-1].at
    return _instant(max(last, note.signed_at) if note.signed_at else last)


def _authors(note: Note) -> list[dict]:
    return [_practitioner(hpr) for hpr in dict.fromkeys(v.by for v in note.versions)]


def _note_text(note: Note) -> str:
    return _text(note.text)


def document_reference(p: Patient, note: Note, meta: dict | None = None) -> Resource:
    data = _note_text(note).encode("utf-8")
    context = [{"reference": f"Encounter/{note.note_id}"}] if is_contact(note) else []
    if note.episode_id:
        context.append({"reference": f"EpisodeOfCare/{note.episode_id}"})
    return _drop_none(_head("DocumentReference", note.note_id, meta) | {
        "status": "current",
        "docStatus": _note_status(note),
        "type": _note_kind(note),
        "subject": _subject(p),
        "date": _note_date(note),
        "author": _authors(note),
        "authenticator": _practitioner(note.signed_by) if note.signed_by else None,
        "custodian": _org(note.versions[0].unit),
        "content": [{"attachment": {
            "contentType": "text/plain; charset=utf-8", "language": "nb",
            "data": base64.b64encode(data).decode("ascii"), "size": len(data),
            "hash": base64.b64encode(hashlib.sha1(data).digest()).decode("ascii"),
            "title": NOTE_KIND_NO[note.kind], "creation": _instant(note.versions[0].at)}}],
        "context": {"encounter": context} if context else None,
    })


def _xhtml(text: str) -> str:
    """Plain text as an XHTML narrative: escaped, one ``<p>`` per line, no XML-illegal chars."""
    lines = _NOT_XML.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).split("\n")
    return f'<div xmlns="{XHTML}">' + "".join(f"<p>{escape(x)}</p>" for x in lines) + "</div>"


def composition(p: Patient, note: Note, meta: dict | None = None) -> Resource:
    attesters = [] if note.signed_by is None else [
        {"mode": "legal", "time": _instant(note.signed_at),  # type: ignore[arg-type]
         "party": _practitioner(note.signed_by)}]
    attesters += [{"mode": "legal", "time": _instant(v.at), "party": _practitioner(v.by)}
                  for v in note.versions[1:]]  # a correction is signed when made
    title = NOTE_KIND_NO[note.kind]
    return _drop_none(_head("Composition", note.note_id, meta) | {
        "status": _note_status(note),
        "type": _note_kind(note),
        "subject": _subject(p),
        "encounter": {"reference": f"Encounter/{note.note_id}"} if is_contact(note) else None,
        "date": _note_date(note),
        "author": _authors(note),
        "title": title,
        "attester": attesters,
        "custodian": _org(note.versions[0].unit),
        "section": [{"title": title, "text": {"status": "generated",
                                              "div": _xhtml(_note_text(note))}}],
    })


# --- observations and conditions ---------------------------------------------------------------

def observation(p: Patient, o: Observation, meta: dict | None = None) -> Resource:
    display = VITALS[o.code][0] if o.code in VITALS else None
    value = ({"valueQuantity": {"value": o.value, "unit": o.ucum, "system": UCUM,
                                "code": o.ucum}} if o.value is not None else
             {"dataAbsentReason": _concept(f"{THO}/data-absent-reason", "error", "Error")})
    notes = [{"authorReference": _practitioner(v.by), "time": _instant(v.at),
              "text": _text(v.reason)} for v in o.versions[1:] if v.reason]
    return _drop_none(_head("Observation", o.observation_id, meta) | {
        "status": OBSERVATION_STATUS[o.status],
        "category": [_concept(f"{THO}/observation-category", "vital-signs", "Vital Signs")],
        "code": _concept(LOINC, o.code, display) | ({"text": display} if display else {}),
        "subject": _subject(p),
        "effectiveDateTime": _instant(o.effective_at),
        "issued": _instant(o.versions[-1].at),
        "performer": [_practitioner(o.versions[0].by)],
    } | value | {"note": notes})


def condition(p: Patient, c: Condition, meta: dict | None = None) -> Resource:
    status = "active" if c.resolved_on is None else "resolved"
    return _drop_none(_head("Condition", c.condition_id, meta) | {
        "clinicalStatus": _concept(f"{THO}/condition-clinical", status),
        "category": [_concept(f"{THO}/condition-category", "problem-list-item",
                              "Problem List Item")],
        "code": _concept(_DIAGNOSIS_URI[c.system], c.code, c.display) | {"text": c.display},
        "subject": _subject(p),
        "onsetDateTime": _date(c.onset),
        "abatementDateTime": _date(c.resolved_on),
        "recordedDate": _instant(c.recorded_at),
        "recorder": _practitioner(c.by),
    })


# --- critical information (CAVE) ---------------------------------------------------------------

def critical_info_type(x: CriticalInfo) -> str:
    return "AllergyIntolerance" if x.category in ALLERGY_CATEGORIES else "Flag"


def allergy_intolerance(p: Patient, x: CriticalInfo, meta: dict | None = None) -> Resource:
    if x.category not in ALLERGY_CATEGORIES:
        raise ValueError(f"{x.category} critical information is a Flag")
    first = x.history[0]
    notes = ([{"text": _text(x.text)}] if x.text else []) + [
        {"authorReference": _practitioner(c.by), "time": _instant(c.at),
         "text": f"{CRITICAL_STATUS_NO[c.status]}: {_text(c.reason)}"}
        for c in x.history[1:] if c.reason]
    reaction = None if not x.reaction else [{"manifestation": [{"text": _text(x.reaction)}]} | (
        {"severity": x.severity} if x.severity else {})]
    return _drop_none(_head("AllergyIntolerance", x.critical_id, meta) | {
        "clinicalStatus": (_concept(f"{THO}/allergyintolerance-clinical",
                                    ALLERGY_CLINICAL[x.status])
                           if x.status in ALLERGY_CLINICAL else None),
        "verificationStatus": _concept(f"{THO}/allergyintolerance-verification",
                                       ALLERGY_VERIFICATION[x.status]),
        "type": "allergy" if x.category == "other_allergy" else None,
        "category": ["medication"] if x.category == "drug_reaction" else None,
        "criticality": CRITICALITY[x.severity] if x.severity else None,
        "code": {"text": _text(x.substance or x.text or CATEGORY_NO[x.category])},
        "patient": _subject(p),
        "recordedDate": _instant(first.at),
        "recorder": _practitioner(first.by),
        "note": notes,
        "reaction": reaction,
    })


def flag(p: Patient, x: CriticalInfo, meta: dict | None = None) -> Resource:
    if x.category in ALLERGY_CATEGORIES:
        raise ValueError(f"{x.category} critical information is an AllergyIntolerance")
    first, last = x.history[0], x.history[-1]
    period = {"start": _instant(first.at)} | (
        {"end": _instant(last.at)} if x.status in ("refuted", "removed") else {})
    category = _coding(CS_CRITICAL_CATEGORY, x.category, CATEGORY_NO[x.category])
    text = " – ".join(_text(t) for t in (x.substance, x.text) if t)
    return _head("Flag", x.critical_id, meta) | {
        "extension": [{"url": EXT_CRITICAL_STATUS, "valueCoding": _coding(
            CS_CRITICAL_STATUS, x.status, CRITICAL_STATUS_NO[x.status])}],
        "status": FLAG_STATUS[x.status],
        "category": [_concept(f"{THO}/flag-category", "clinical", "Clinical"),
                     {"coding": [category]}],
        "code": {"coding": [category], "text": text or CATEGORY_NO[x.category]},
        "subject": _subject(p),
        "period": period,
        "author": _practitioner(first.by),
    }


def critical_info(p: Patient, x: CriticalInfo, meta: dict | None = None) -> Resource:
    return (allergy_intolerance if x.category in ALLERGY_CATEGORIES else flag)(p, x, meta)


# --- process support: care plans and tasks -----------------------------------------------------

def _goal(p: Patient, g: Goal) -> Resource:
    achievement = GOAL_ACHIEVEMENT.get(g.status)
    return _drop_none({
        "resourceType": "Goal", "id": str(g.goal_id),
        "lifecycleStatus": GOAL_LIFECYCLE[g.status],
        "achievementStatus": (_concept(f"{THO}/goal-achievement", *achievement)
                              if achievement else None),
        "description": {"text": _text(g.description)},
        "subject": _subject(p),
        "startDate": local_day(g.added_at).isoformat(),
        "target": [{"dueDate": g.target_date.isoformat()}] if g.target_date else None,
        "statusDate": local_day(g.changed_at).isoformat() if g.changed_at else None,
        "statusReason": _text(g.note) if g.note else None,
        "expressedBy": _practitioner(g.added_by),
    })


def _activity(i: Intervention) -> dict:
    code = None
    if i.service_code:
        known = service_code(i.service_code)
        code = {"coding": [known.to_coding()]} if known else _concept(
            IPLOS_SERVICE_URI, i.service_code)
    return {"id": str(i.intervention_id), "detail": _drop_none({
        "code": code,
        "statusReason": {"text": _text(i.stop_reason)} if i.stop_reason else None,
        "status": ACTIVITY_STATUS[i.status],
        "scheduledString": _text(i.frequency) if i.frequency else None,
        "description": _text(i.description),
    })}


def care_plan(p: Patient, plan: CarePlan, meta: dict | None = None) -> Resource:
    period = _drop_none({"start": _date(plan.period_start), "end": _date(plan.period_end)})
    note = None if not plan.close_note else [{
        "authorReference": _practitioner(plan.closed_by or plan.author),
        "time": _instant(plan.closed_at or plan.created_at), "text": _text(plan.close_note)}]
    return _drop_none(_head("CarePlan", plan.care_plan_id, meta) | {
        "contained": [_goal(p, g) for g in plan.goals],
        "status": CARE_PLAN_STATUS[plan.status],
        "intent": "plan",
        "title": _text(plan.title),
        "subject": _subject(p),
        "period": period,
        "created": _instant(plan.created_at),
        "author": _practitioner(plan.author),
        "supportingInfo": ([{"reference": f"EpisodeOfCare/{plan.episode_id}"}]
                           if plan.episode_id else None),
        "goal": [{"reference": f"#{g.goal_id}"} for g in plan.goals],
        "activity": [_activity(i) for i in plan.interventions],
        "note": note,
    })


def task(p: Patient, t: Task, meta: dict | None = None) -> Resource:
    if t.assignee:
        contained = [{"resourceType": "PractitionerRole", "id": "owner",
                      "practitioner": _practitioner(t.assignee), "organization": _org(t.unit)}]
        owner = {"reference": "#owner", "type": "PractitionerRole"}
    else:
        contained, owner = [], _org(t.unit)
    ended = t.completed_at or t.cancelled_at
    return _drop_none(_head("Task", t.task_id, meta) | {
        "contained": contained,
        "extension": ([{"url": EXT_CARE_PLAN_ACTIVITY, "valueString": str(t.intervention_id)}]
                      if t.intervention_id else None),
        "basedOn": [{"reference": f"CarePlan/{t.care_plan_id}"}] if t.care_plan_id else None,
        "status": t.status,
        "statusReason": {"text": _text(t.cancel_reason)} if t.cancel_reason else None,
        "intent": "order",
        "code": _concept(CS_TASK_KIND, t.kind, TASK_KIND_NO[t.kind]) | {"text": _text(t.title)},
        "description": _text(t.description) if t.description else None,
        "for": _subject(p),
        "executionPeriod": {"end": _instant(ended)} if ended else None,
        "authoredOn": _instant(t.created_at),
        "requester": _practitioner(t.created_by) if t.created_by else None,  # reply tasks
        "owner": owner,
        "restriction": {"period": {"end": _instant(t.due_at)}},
        "output": None if t.note_id is None else [{
            "type": {"text": "journalnotat"},
            "valueReference": {"reference": f"DocumentReference/{t.note_id}"}}],
    })


# --- every resource, and what an event touches -------------------------------------------------

def _entries(p: Patient) -> Iterator[tuple[str, str, Callable[[], Resource]]]:
    """(type, id, build) for every current resource, built only when asked."""
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
    for o in p.observations:
        yield "Observation", str(o.observation_id), partial(observation, p, o)
    for c in p.conditions:
        yield "Condition", str(c.condition_id), partial(condition, p, c)
    for x in p.critical_info:
        yield critical_info_type(x), str(x.critical_id), partial(critical_info, p, x)
    for plan in p.care_plans:
        yield "CarePlan", str(plan.care_plan_id), partial(care_plan, p, plan)
    for t in p.tasks:
        yield "Task", str(t.task_id), partial(task, p, t)


def resources_of(p: Patient) -> list[tuple[str, str, Resource]]:
    """Every current resource of the patient as (type, id, resource), without ``meta``."""
    return [(kind, id_, build()) for kind, id_, build in _entries(p)]


# type -> (the entities it comes from, their id field, which of them are of this type, mapper)
_SOURCES: dict[str, tuple[str, str, Callable[[Any], bool], Callable[..., Resource]]] = {
    "EpisodeOfCare": ("episodes", "episode_id", lambda _: True, episode_of_care),
    "Encounter": ("notes", "note_id", is_contact, encounter),
    "DocumentReference": ("notes", "note_id", lambda _: True, document_reference),
    "Composition": ("notes", "note_id", lambda _: True, composition),
    "Observation": ("observations", "observation_id", lambda _: True, observation),
    "Condition": ("conditions", "condition_id", lambda _: True, condition),
    "AllergyIntolerance": ("critical_info", "critical_id",
                           lambda x: critical_info_type(x) == "AllergyIntolerance", critical_info),
    "Flag": ("critical_info", "critical_id", lambda x: critical_info_type(x) == "Flag",
             critical_info),
    "CarePlan": ("care_plans", "care_plan_id", lambda _: True, care_plan),
    "Task": ("tasks", "task_id", lambda _: True, task),
}


def resource(p: Patient, kind: str, id_: str | UUID) -> Resource | None:
    """One current resource, or ``None`` when the patient has none of that type and id. Looks
    in the one collection the type comes from (a projection calls it for every event)."""
    if not p.registered:
        return None
    if kind == "Patient":
        return patient(p) if str(id_) == str(p.patient_id) else None
    source = _SOURCES.get(kind)
    if source is None:
        return None
    collection, field, is_kind, build = source
    try:
        key = id_ if isinstance(id_, UUID) else UUID(str(id_))
    except ValueError:
        return None
    found = next((x for x in getattr(p, collection) if getattr(x, field) == key), None)
    return build(p, found) if found is not None and is_kind(found) else None


Touched = list[tuple[str, UUID]]


def _note(p: Patient, note_id: UUID) -> Note | None:
    return next((n for n in p.notes if n.note_id == note_id), None)


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
    ev.CriticalInfoRegistered: _critical_touches,
    ev.CriticalInfoVerified: _critical_touches,
    ev.CriticalInfoRefuted: _critical_touches,
    ev.CriticalInfoRemoved: _critical_touches,
    ev.CarePlanCreated: _same("CarePlan", "care_plan_id"),
    ev.GoalAdded: _same("CarePlan", "care_plan_id"),  # goals are contained in the plan
    ev.GoalStatusChanged: _same("CarePlan", "care_plan_id"),
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
