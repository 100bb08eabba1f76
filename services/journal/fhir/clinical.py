"""FHIR R4 resources of the clinical record and process support: Observation, Condition,
AllergyIntolerance and Flag (critical information), CarePlan and Task (``to_fhir.py`` says how
each maps)."""

from __future__ import annotations

from libs.kernel.time import local_day
from libs.web.fhir.elements import coding, instant, org, text
from services.journal.domain.clinical_state import (
    CATEGORY_NO, VITALS, Condition, CriticalInfo, Observation,
)
from services.journal.domain.codes.lists import service_code
from services.journal.domain.patients import Patient
from services.journal.domain.process_state import KIND_NO as TASK_KIND_NO
from services.journal.domain.process_state import CarePlan, Goal, Intervention, Task
from services.journal.fhir.results_out import condition_code, result
from services.journal.fhir.elements import (
    ACTIVITY_STATUS, ALLERGY_CATEGORIES, ALLERGY_CLINICAL, ALLERGY_VERIFICATION, CARE_PLAN_STATUS,
    concept, CRITICAL_STATUS_NO, CRITICALITY, CS_CRITICAL_CATEGORY, CS_CRITICAL_STATUS,
    CS_TASK_KIND, device_ref, DIAGNOSIS_URI, drop_none, EXT_CARE_PLAN_ACTIVITY, EXT_CRITICAL_STATUS,
    FLAG_STATUS, GOAL_ACHIEVEMENT, GOAL_LIFECYCLE, head, IPLOS_SERVICE_URI, iso_date, LOINC,
    OBSERVATION_STATUS, practitioner_ref, Resource, subject_ref, THO, UCUM,
)


# --- observations and conditions ---------------------------------------------------------------

def observation(p: Patient, o: Observation, meta: dict | None = None) -> Resource:
    display = VITALS[o.code][0] if o.code in VITALS else None
    value = ({"valueQuantity": {"value": o.value, "unit": o.ucum, "system": UCUM,
                                "code": o.ucum}} if o.value is not None else
             {"dataAbsentReason": concept(f"{THO}/data-absent-reason", "error", "Error")})
    notes = [{"authorReference": practitioner_ref(v.by), "time": instant(v.at),
              "text": text(v.reason)} for v in o.versions[1:] if v.reason]
    if o.codings:   # a result (laboratory, social history, ...): results_out.py
        return result(p, o, value, notes, OBSERVATION_STATUS[o.status], meta)
    return drop_none(head("Observation", o.observation_id, meta) | {
        "status": OBSERVATION_STATUS[o.status],
        "category": [concept(f"{THO}/observation-category", "vital-signs", "Vital Signs")],
        "code": concept(LOINC, o.code, display) | ({"text": display} if display else {}),
        "subject": subject_ref(p),
        "effectiveDateTime": instant(o.effective_at),
        "issued": instant(o.versions[-1].at),
        # a device's measurement: performed by the device (it has no HPR number)
        "performer": [device_ref(o.device) if o.device
                      else practitioner_ref(o.versions[0].by)],
        "device": device_ref(o.device) if o.device else None,
    } | value | {"note": notes})


def condition(p: Patient, c: Condition, meta: dict | None = None) -> Resource:
    status = "active" if c.resolved_on is None else "resolved"
    return drop_none(head("Condition", c.condition_id, meta) | {
        "clinicalStatus": concept(f"{THO}/condition-clinical", status),
        "category": [concept(f"{THO}/condition-category", "problem-list-item",
                              "Problem List Item")],
        "code": condition_code(c, coding(DIAGNOSIS_URI[c.system], c.code, c.display)
                               if c.system in DIAGNOSIS_URI else None),
        "subject": subject_ref(p),
        "onsetDateTime": iso_date(c.onset),
        "abatementDateTime": iso_date(c.resolved_on),
        "recordedDate": instant(c.recorded_at),
        "recorder": practitioner_ref(c.by),
    })


# --- critical information (CAVE) ---------------------------------------------------------------

def critical_info_type(x: CriticalInfo) -> str:
    return "AllergyIntolerance" if x.category in ALLERGY_CATEGORIES else "Flag"


def allergy_intolerance(p: Patient, x: CriticalInfo, meta: dict | None = None) -> Resource:
    if x.category not in ALLERGY_CATEGORIES:
        raise ValueError(f"{x.category} critical information is a Flag")
    first = x.history[0]
    notes = ([{"text": text(x.text)}] if x.text else []) + [
        {"authorReference": practitioner_ref(c.by), "time": instant(c.at),
         "text": f"{CRITICAL_STATUS_NO[c.status]}: {text(c.reason)}"}
        for c in x.history[1:] if c.reason]
    reaction = None if not x.reaction else [{"manifestation": [{"text": text(x.reaction)}]} | (
        {"severity": x.severity} if x.severity else {})]
    return drop_none(head("AllergyIntolerance", x.critical_id, meta) | {
        "clinicalStatus": (concept(f"{THO}/allergyintolerance-clinical",
                                    ALLERGY_CLINICAL[x.status])
                           if x.status in ALLERGY_CLINICAL else None),
        "verificationStatus": concept(f"{THO}/allergyintolerance-verification",
                                       ALLERGY_VERIFICATION[x.status]),
        "type": "allergy" if x.category == "other_allergy" else None,
        "category": ["medication"] if x.category == "drug_reaction" else None,
        "criticality": CRITICALITY[x.severity] if x.severity else None,
        "code": {"text": text(x.substance or x.text or CATEGORY_NO[x.category])},
        "patient": subject_ref(p),
        "recordedDate": instant(first.at),
        "recorder": practitioner_ref(first.by),
        "note": notes,
        "reaction": reaction,
    })


def flag(p: Patient, x: CriticalInfo, meta: dict | None = None) -> Resource:
    if x.category in ALLERGY_CATEGORIES:
        raise ValueError(f"{x.category} critical information is an AllergyIntolerance")
    first, last = x.history[0], x.history[-1]
    period = {"start": instant(first.at)} | (
        {"end": instant(last.at)} if x.status in ("refuted", "removed") else {})
    category = coding(CS_CRITICAL_CATEGORY, x.category, CATEGORY_NO[x.category])
    label = " – ".join(text(t) for t in (x.substance, x.text) if t)
    return head("Flag", x.critical_id, meta) | {
        "extension": [{"url": EXT_CRITICAL_STATUS, "valueCoding": coding(
            CS_CRITICAL_STATUS, x.status, CRITICAL_STATUS_NO[x.status])}],
        "status": FLAG_STATUS[x.status],
        "category": [concept(f"{THO}/flag-category", "clinical", "Clinical"),
                     {"coding": [category]}],
        "code": {"coding": [category], "text": label or CATEGORY_NO[x.category]},
        "subject": subject_ref(p),
        "period": period,
        "author": practitioner_ref(first.by),
    }


def critical_info(p: Patient, x: CriticalInfo, meta: dict | None = None) -> Resource:
    return (allergy_intolerance if x.category in ALLERGY_CATEGORIES else flag)(p, x, meta)


# --- process support: care plans and tasks -----------------------------------------------------

def _coded(codes: tuple, label: str | None = None) -> dict:
    """A CodeableConcept of codings as their source gave them, with a text."""
    return drop_none({"coding": [coding(c.system, c.code, c.display) for c in codes],
                      "text": text(label) if label else None})


def _conditions(ids: tuple) -> list[dict]:
    return [{"reference": f"Condition/{i}"} for i in ids]


def goal(p: Patient, g: Goal, meta: dict | None = None) -> Resource:
    """A goal of a care plan (made in the journal, or recorded as another record gave it)."""
    achievement = (GOAL_ACHIEVEMENT.get(g.status) if g.lifecycle is None else
                   (g.achievement, None) if g.achievement else None)
    due = iso_date(g.target_date)
    return drop_none(head("Goal", g.goal_id, meta) | {
        "lifecycleStatus": g.lifecycle or GOAL_LIFECYCLE[g.status],
        "achievementStatus": (concept(f"{THO}/goal-achievement", *achievement)
                              if achievement else None),
        "description": _coded(g.code, g.description),
        "subject": subject_ref(p),
        "startDate": local_day(g.added_at).isoformat() if g.lifecycle is None else None,
        "target": [{"dueDate": due}] if due else None,
        "statusDate": local_day(g.changed_at).isoformat() if g.changed_at else None,
        "statusReason": text(g.note) if g.note else None,
        "expressedBy": practitioner_ref(g.added_by),
        "addresses": _conditions(g.addresses),
    })


def _activity(i: Intervention) -> dict:
    code = _coded(i.code) if i.code else None
    if i.service_code:
        known = service_code(i.service_code)
        code = {"coding": [known.to_coding()]} if known else concept(
            IPLOS_SERVICE_URI, i.service_code)
    return {"id": str(i.intervention_id), "detail": drop_none({
        "code": code,
        "statusReason": {"text": text(i.stop_reason)} if i.stop_reason else None,
        "status": ACTIVITY_STATUS[i.status],
        "scheduledString": text(i.frequency) if i.frequency else None,
        "description": text(i.description),
    })}


def care_plan(p: Patient, plan: CarePlan, meta: dict | None = None) -> Resource:
    period = drop_none({"start": iso_date(plan.period_start), "end": iso_date(plan.period_end)})
    note = None if not plan.close_note else [{
        "authorReference": practitioner_ref(plan.closed_by or plan.author),
        "time": instant(plan.closed_at or plan.created_at), "text": text(plan.close_note)}]
    return drop_none(head("CarePlan", plan.care_plan_id, meta) | {
        "status": CARE_PLAN_STATUS[plan.status],
        "intent": plan.intent,
        "category": [_coded((c,)) for c in plan.category],
        "title": text(plan.title),
        "subject": subject_ref(p),
        "encounter": ({"reference": f"Encounter/{plan.encounter_id}"} if plan.encounter_id
                      else None),
        "period": period,
        "created": instant(plan.created_at),
        "author": practitioner_ref(plan.author),
        "supportingInfo": ([{"reference": f"EpisodeOfCare/{plan.episode_id}"}]
                           if plan.episode_id else None),
        "addresses": _conditions(plan.addresses),
        "goal": [{"reference": f"Goal/{g.goal_id}"} for g in plan.goals],
        "activity": [_activity(i) for i in plan.interventions],
        "note": note,
    })


def task(p: Patient, t: Task, meta: dict | None = None) -> Resource:
    if t.assignee:
        contained = [{"resourceType": "PractitionerRole", "id": "owner",
                      "practitioner": practitioner_ref(t.assignee), "organization": org(t.unit)}]
        owner = {"reference": "#owner", "type": "PractitionerRole"}
    else:
        contained, owner = [], org(t.unit)
    ended = t.completed_at or t.cancelled_at
    return drop_none(head("Task", t.task_id, meta) | {
        "contained": contained,
        "extension": ([{"url": EXT_CARE_PLAN_ACTIVITY, "valueString": str(t.intervention_id)}]
                      if t.intervention_id else None),
        "basedOn": [{"reference": f"CarePlan/{t.care_plan_id}"}] if t.care_plan_id else None,
        "status": t.status,
        "statusReason": {"text": text(t.cancel_reason)} if t.cancel_reason else None,
        "intent": "order",
        "code": concept(CS_TASK_KIND, t.kind, TASK_KIND_NO[t.kind]) | {"text": text(t.title)},
        "description": text(t.description) if t.description else None,
        "for": subject_ref(p),
        "executionPeriod": {"end": instant(ended)} if ended else None,
        "authoredOn": instant(t.created_at),
        "requester": practitioner_ref(t.created_by) if t.created_by else None,  # reply tasks
        "owner": owner,
        "restriction": {"period": {"end": instant(t.due_at)}},
        "output": None if t.note_id is None else [{
            "type": {"text": "journalnotat"},
            "valueReference": {"reference": f"DocumentReference/{t.note_id}"}}],
    })
