"""Results and coded conditions, decided against ``patients.Patient`` (the rest of the clinical
record is ``clinical.py``'s).

A result (``RecordResult``) is any observation that is not one of the journal's own vital signs
(``clinical_state.VITALS``, ``clinical.record_observation``): a laboratory value, body height,
BMI, pain, head circumference, smoking status, a survey score. It keeps every coding of its code
and its categories as given, and exactly one value: a quantity (UCUM), a coded value, or
components. Plausibility is checked only where the journal has a rule: a vital sign's code is
refused here (record it as a vital sign, which checks its range and unit).

A condition keeps every coding given (``RecordCodedCondition``): with an ICPC-2 or ICD-10 code
(each checked against the shipped lists) it is ``ConditionRecorded`` by the first of them
(ICPC-2 before ICD-10: primary care) followed by ``ConditionCodings`` with the rest; a
condition coded in SNOMED CT (or another terminology) only is ``ConditionCoded``, kept as given.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from pydantic import Field

from libs.events.registry import EventPayload
from libs.kernel.errors import Conflict, Invalid
from libs.kernel.time import Day, Instant, clinical_day, clinical_time
from services.journal import contract as ev
from services.journal.contract import Coded, Component, Quantity
from services.journal.domain.base import Clinician, Command, require_alive, signature
from services.journal.domain.clinical_state import VITALS
from services.journal.domain.codes import ICD10, ICPC2, CodeError, code_system, validate_diagnosis

if TYPE_CHECKING:
    from services.journal.domain.patients import Patient

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
CATEGORIES = frozenset({"social-history", "vital-signs", "imaging", "laboratory", "procedure",
                        "survey", "exam", "therapy", "activity"})
"""FHIR R4's observation-category codes."""


class RecordResult(Command):
    category: tuple[str, ...] = Field(default=(), max_length=10)
    code: tuple[Coded, ...] = Field(min_length=1, max_length=10)
    text: str | None = Field(default=None, max_length=500)
    quantity: Quantity | None = None
    concept: tuple[Coded, ...] = Field(default=(), max_length=10)
    components: tuple[Component, ...] = Field(default=(), max_length=20)
    effective_at: Instant
    observation_id: UUID | None = None


class RecordCodedCondition(Command):
    codings: tuple[Coded, ...] = Field(min_length=1, max_length=10)
    text: str | None = Field(default=None, max_length=500)
    onset: Day | None = None
    note: str | None = Field(default=None, max_length=2000)
    condition_id: UUID | None = None


def record_result(p: Patient, c: RecordResult, by: Clinician,
                  now: datetime) -> list[EventPayload]:
    require_alive(p)
    unknown = sorted(set(c.category) - CATEGORIES)
    if unknown:
        raise Invalid(f"category {unknown[0]!r} is not a FHIR observation category.")
    vital = next((x.code for x in c.code if x.system == LOINC and x.code in VITALS), None)
    if vital is not None:
        raise Invalid(f"LOINC {vital} is a vital sign: record it as one (its unit and "
                      "plausible range are checked there).")
    if sum((c.quantity is not None, bool(c.concept), bool(c.components))) != 1:
        raise Invalid("A result has one value: a quantity, a coded value or components.")
    if any(x.quantity is None and not x.concept for x in c.components):
        raise Invalid("Every component has a value (a quantity or a coded value).")
    at = clinical_time("effective_at", c.effective_at, now, p.birth_date)
    code = sorted(c.code, key=lambda x: x.system != LOINC)   # LOINC first, order kept
    who = signature(by)
    return [ev.ObservationResultRecorded(
        observation_id=c.observation_id or uuid4(), category=c.category, code=tuple(code),
        text=c.text, quantity=c.quantity, concept=c.concept, components=c.components,
        effective_at=at, performer=who["by"], unit=who["unit"], recorded_at=now)]


def _checked(codings: tuple[Coded, ...]) -> tuple[list[Coded], list[Coded]]:
    """(ICPC-2 / ICD-10 codings, each checked and with the list's text; the others as given)."""
    diagnoses, other = [], []
    for x in codings:
        try:
            system = code_system(x.system)
        except CodeError:
            system = None
        if system in (ICPC2, ICD10):
            try:
                found = validate_diagnosis(system, x.code)
            except CodeError as exc:
                raise Invalid(str(exc)) from None
            diagnoses.append(Coded(system=system.uri, code=found.code, display=found.text))
        elif x.system == SNOMED and not (x.code.isdigit() and 6 <= len(x.code) <= 18):
            raise Invalid(f"SNOMED CT code {x.code!r} is not a SNOMED CT identifier.")
        else:
            other.append(x)
    diagnoses.sort(key=lambda x: x.system != ICPC2.uri)   # ICPC-2 first: primary care
    return diagnoses, other


def record_coded_condition(p: Patient, c: RecordCodedCondition, by: Clinician,
                           now: datetime) -> list[EventPayload]:
    require_alive(p)
    diagnoses, other = _checked(c.codings)
    if c.onset is not None:
        clinical_day("onset", c.onset, now, p.birth_date)
    cid, who = c.condition_id or uuid4(), signature(by)
    if diagnoses:
        first, name = diagnoses[0], code_system(diagnoses[0].system).name
        if any(x.system == name and x.code == first.code and x.resolved_on is None
               for x in p.conditions):
            raise Conflict(f"{name} {first.code} is already an active problem.")
        rest = (*diagnoses[1:], *other)
        return [ev.ConditionRecorded(condition_id=cid, system=name, code=first.code,
                                     display=first.display, onset=c.onset, note=c.note,
                                     recorded_at=now, **who)] + (
            [ev.ConditionCodings(condition_id=cid, codings=rest)] if rest else [])
    display = (c.text or next((x.display for x in other if x.display), None)
               or f"{other[0].system} {other[0].code}")
    return [ev.ConditionCoded(condition_id=cid, codings=tuple(other), display=display[:500],
                              onset=c.onset, note=c.note, recorded_at=now, **who)]
