"""FHIR R4 view of results, coded conditions and immunizations (``to_fhir.py`` maps the rest):

- a result (``ObservationResultRecorded``) -> ``Observation`` with its categories, every coding
  of its code, and ``valueQuantity`` (UCUM when the unit is a UCUM code), ``valueCodeableConcept``
  or ``component``; corrections and entered-in-error as for a vital sign;
- a condition's further codings (SNOMED CT, ...) -> more ``Condition.code.coding``;
- ``Immunization``: status, ``vaccineCode`` with every coding, ``occurrenceDateTime``,
  ``lotNumber``, ``site`` (text), ``protocolApplied.doseNumberPositiveInt``, ``primarySource``,
  a not-done's reason as ``statusReason`` text, and two performers: who gave it (HPR) and the
  unit (organisation number);
- a contact from elsewhere (``EncounterRecorded``) -> ``Encounter`` of its class, with its type,
  reason, period, episode and unit;
- ``Procedure`` (status, every coding, performed time or period, reason, performer and unit) and
  ``DiagnosticReport`` (category, code, time, its results as ``Observation`` references).
"""

from __future__ import annotations

from libs.web.fhir.elements import V3_ACT_CODE, coding, instant, org, text
from services.journal.contract import Coded, Component, Quantity
from services.journal.domain.clinical_state import Condition, Observation
from services.journal.domain.contacts import Encounter
from services.journal.domain.immunizations import Immunization
from services.journal.domain.procedures import Procedure, Report
from services.journal.domain.patients import Patient
from services.journal.fhir.elements import (
    concept, drop_none, head, practitioner_ref, Resource, subject_ref, THO, UCUM,
)

CATEGORY_DISPLAY = {"social-history": "Social History", "vital-signs": "Vital Signs",
                    "imaging": "Imaging", "laboratory": "Laboratory",
                    "procedure": "Procedure", "survey": "Survey", "exam": "Exam",
                    "therapy": "Therapy", "activity": "Activity"}


def codeable(codings: tuple[Coded, ...], text_: str | None = None) -> dict:
    """A CodeableConcept of every coding, with ``text`` (the given one, or the first display)."""
    shown = text_ or next((c.display for c in codings if c.display), None)
    return {"coding": [coding(c.system, c.code, c.display) for c in codings]} | (
        {"text": text(shown)} if shown else {})


def quantity(q: Quantity) -> dict:
    out: dict = {"value": q.value}
    if q.unit:
        out |= {"unit": q.unit, "system": UCUM, "code": q.unit}
    return out


def _value(quantity_: Quantity | None, concept_: tuple[Coded, ...]) -> dict:
    if quantity_ is not None:
        return {"valueQuantity": quantity(quantity_)}
    if concept_:
        return {"valueCodeableConcept": codeable(concept_)}
    return {}


def _component(c: Component) -> dict:
    return {"code": codeable(c.code)} | _value(c.quantity, c.concept)


def result(p: Patient, o: Observation, value: dict, notes: list, status: str,
           meta: dict | None = None) -> Resource:
    """A result as an Observation; ``value`` and ``notes`` come from the vital-sign mapper
    (``clinical.observation``), which also handles corrections and entered-in-error."""
    if o.value is None and o.status != "entered_in_error":
        value = _value(None, o.concept) if o.concept else {}
    elif o.value is not None:
        value = {"valueQuantity": quantity(Quantity(value=o.value, unit=o.ucum or None))}
    return drop_none(head("Observation", o.observation_id, meta) | {
        "status": status,
        "category": [concept(f"{THO}/observation-category", c, CATEGORY_DISPLAY.get(c))
                     for c in o.category],
        "code": codeable(o.codings, o.text),
        "subject": subject_ref(p),
        "effectiveDateTime": instant(o.effective_at),
        "issued": instant(o.versions[-1].at),
        "performer": [practitioner_ref(o.versions[0].by)],
        "component": ([_component(c) for c in o.components]
                      if o.status != "entered_in_error" else []),
    } | value | {"note": notes})


def condition_code(c: Condition, primary: dict | None) -> dict:
    """``Condition.code``: the ICPC-2 / ICD-10 coding (``primary``) and every further one, or
    for a condition coded otherwise (``ConditionCoded``) every coding as given."""
    first = [primary] if primary else []
    return {"coding": first + [coding(x.system, x.code, x.display) for x in c.codings],
            "text": text(c.display)}


def immunization(p: Patient, x: Immunization, meta: dict | None = None) -> Resource:
    return drop_none(head("Immunization", x.immunization_id, meta) | {
        "status": x.status,
        "statusReason": {"text": text(x.status_reason)} if x.status_reason else None,
        "vaccineCode": codeable(x.vaccine, x.vaccine_text),
        "patient": subject_ref(p),
        "occurrenceDateTime": instant(x.occurred_at),
        "recorded": instant(x.recorded_at),
        "primarySource": x.primary_source,
        "lotNumber": x.lot_number,
        "site": {"text": text(x.site)} if x.site else None,
        "performer": [{"actor": practitioner_ref(x.performer)}, {"actor": org(x.unit)}],
        "protocolApplied": ([{"doseNumberPositiveInt": x.dose_number}]
                            if x.dose_number else None),
    })


def contact(p: Patient, x: Encounter, meta: dict | None = None) -> Resource:
    """A contact from elsewhere (``contacts.py``) as an ``Encounter``."""
    return drop_none(head("Encounter", x.encounter_id, meta) | {
        "status": x.status,
        "class": coding(V3_ACT_CODE, x.class_code),
        "type": [codeable(x.type)] if x.type else None,
        "subject": subject_ref(p),
        "episodeOfCare": ([{"reference": f"EpisodeOfCare/{x.episode_id}"}]
                          if x.episode_id else None),
        "participant": [{"individual": practitioner_ref(x.by)}],
        "period": {"start": instant(x.started_at)} | (
            {"end": instant(x.ended_at)} if x.ended_at else {}),
        "reasonCode": [codeable(x.reason)] if x.reason else None,
        "serviceProvider": org(x.unit),
    })


def procedure(p: Patient, x: Procedure, meta: dict | None = None) -> Resource:
    when = ({"performedPeriod": {"start": instant(x.performed_at),
                                 "end": instant(x.performed_end)}} if x.performed_end else
            {"performedDateTime": instant(x.performed_at)})
    return drop_none(head("Procedure", x.procedure_id, meta) | {
        "status": x.status,
        "code": codeable(x.code, x.text),
        "subject": subject_ref(p),
        "recorder": practitioner_ref(x.by),
        "performer": [{"actor": practitioner_ref(x.by), "onBehalfOf": org(x.unit)}],
        "reasonCode": [codeable(x.reason)] if x.reason else None,
    } | when)


def diagnostic_report(p: Patient, x: Report, meta: dict | None = None) -> Resource:
    return drop_none(head("DiagnosticReport", x.report_id, meta) | {
        "status": x.status,
        "category": [codeable(x.category)] if x.category else None,
        "code": codeable(x.code, x.text),
        "subject": subject_ref(p),
        "effectiveDateTime": instant(x.effective_at),
        "issued": instant(x.recorded_at),
        "performer": [org(x.unit)],
        "result": [{"reference": f"Observation/{o}"} for o in x.results],
        "conclusion": text(x.conclusion) if x.conclusion else None,
    })
