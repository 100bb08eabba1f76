"""Incoming results and immunizations -> journal commands (``from_fhir.py`` maps the rest, and
calls these). Pure: no I/O, no clock.

- An Observation that is not one of the journal's vital signs (``clinical.VITALS``; those keep
  their unit conversion and plausible range in ``from_fhir``) -> ``RecordResult``: every coding
  of its code (LOINC, NLK, ...), its FHIR observation categories (a category code FHIR does not
  define is left out and counted), and its value: ``valueQuantity`` (the UCUM ``code``, or the
  ``unit`` text), ``valueCodeableConcept``, or ``component``. No plausibility rule is applied:
  the journal has rules only for its vital signs.
- An Encounter of any class -> ``RecordEncounter`` (``contact``; ``from_fhir`` checks its status
  and period, and makes an emergency a legevakt episode too).
- A Procedure (completed, in progress or not done) -> ``RecordProcedure``; a DiagnosticReport
  (final, amended, corrected) -> ``RecordReport``, its results resolved to the ids the bundle's
  Observations get (``resolve_reports``; one not imported is left out and counted).
- An Immunization (completed, or not-done with a reason) -> ``RecordImmunization``: the vaccine
  with every coding (CVX, ATC, ...), ``occurrenceDateTime``, lot number, dose number, site.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from datetime import datetime
from typing import Any

from services.journal.contract import Coded, Component, Quantity
from services.journal.domain.base import Clinician
from services.journal.domain.contacts import RecordEncounter
from services.journal.domain.immunizations import RecordImmunization
from services.journal.domain.procedures import RecordProcedure, RecordReport
from services.journal.domain.results import CATEGORIES, RecordResult
from services.journal.fhir.plan import Entry, IdPolicy, Plan, Resource, Unmappable

CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"


def coded(concept: Any) -> tuple[Coded, ...]:
    """Every coding of a CodeableConcept that has a system and a code (at most ten)."""
    out = []
    for c in (concept or {}).get("coding") or [] if isinstance(concept, dict) else []:
        if isinstance(c, dict) and isinstance(c.get("system"), str) and c.get("code"):
            display = c.get("display") if isinstance(c.get("display"), str) else None
            out.append(Coded(system=c["system"][:200], code=str(c["code"])[:100],
                             display=display[:500] if display else None))
    return tuple(out[:10])


def concept_text(concept: Any) -> str | None:
    value = concept.get("text") if isinstance(concept, dict) else None
    return value.strip()[:500] if isinstance(value, str) and value.strip() else None


def _quantity(q: Any, what: str) -> Quantity | None:
    if q is None:
        return None
    value = q.get("value") if isinstance(q, dict) else None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise Unmappable(f"{what}: a quantity without a numeric value")
    unit = q.get("code") or q.get("unit")
    return Quantity(value=float(value), unit=str(unit)[:40] if unit else None)


def result(res: Resource, full_url: str | None, ids: IdPolicy, at: datetime,
           skipped: Counter[str]) -> list[Entry]:
    """A result (``at`` is its effective time, already checked by the caller)."""
    code = coded(res.get("code"))
    if not code:
        raise Unmappable("Observation: no coded code (system and code)")
    given = [c.get("code") for cat in res.get("category") or [] if isinstance(cat, dict)
             for c in cat.get("coding") or [] if isinstance(c, dict)
             and c.get("system") in (CATEGORY_SYSTEM, None)]
    category = tuple(dict.fromkeys(c for c in given if c in CATEGORIES))
    left_out = tuple(f"Observation.category: {c!r} is no FHIR observation category; left "
                     "out" for c in dict.fromkeys(given) if c not in CATEGORIES)
    components = []
    if len(res.get("component") or []) > 20:
        raise Unmappable("Observation: more than 20 components")
    for comp in res.get("component") or []:
        if not isinstance(comp, dict) or not coded(comp.get("code")):
            raise Unmappable("Observation: a component without a coded code")
        value = _quantity(comp.get("valueQuantity"), "Observation component")
        components.append(Component(code=coded(comp.get("code")), quantity=value,
                                    concept=coded(comp.get("valueCodeableConcept"))))
    quantity = _quantity(res.get("valueQuantity"), "Observation")
    concept = coded(res.get("valueCodeableConcept"))
    if quantity is None and not concept and not components:
        raise Unmappable("Observation: no value the journal records (a quantity, a coded "
                         "value or components)")
    if components and (quantity is not None or concept):
        components = []   # the value is the observation's; components are its detail
    command = RecordResult(category=category, code=code, text=concept_text(res.get("code")),
                           quantity=quantity, concept=concept, components=tuple(components),
                           effective_at=at, observation_id=ids.entity_id(res, "", full_url))
    return [Entry("result", command, ids.clinician(res), command.observation_id,
                  ids.key(res, full_url), at, left_out)]


def immunization(res: Resource, full_url: str | None, ids: IdPolicy, moment,
                 skipped: Counter[str]) -> list[Entry]:
    """``moment`` reads a FHIR dateTime (``from_fhir._moment``)."""
    status = res.get("status")
    if status not in ("completed", "not-done"):
        raise Unmappable(f"Immunization: status {status!r} (entered in error or unknown)")
    vaccine = coded(res.get("vaccineCode"))
    if not vaccine:
        raise Unmappable("Immunization: no coded vaccine")
    at = moment(res.get("occurrenceDateTime"))
    if at is None:
        raise Unmappable("Immunization: no occurrence date and time")
    if at > ids.now:
        raise Unmappable("Immunization: dated in the future")
    reason = concept_text(res.get("statusReason")) or next(
        (c.display or c.code for c in coded(res.get("statusReason"))), None)
    doses = [p.get("doseNumberPositiveInt") for p in res.get("protocolApplied") or []
             if isinstance(p, dict) and isinstance(p.get("doseNumberPositiveInt"), int)]
    lot = res.get("lotNumber")
    command = RecordImmunization(
        status=status, vaccine=vaccine, vaccine_text=concept_text(res.get("vaccineCode")),
        occurred_at=at, lot_number=lot[:100] if isinstance(lot, str) and lot else None,
        dose_number=doses[0] if doses and 1 <= doses[0] <= 20 else None,
        site=concept_text(res.get("site")) or next(
            (c.display for c in coded(res.get("site")) if c.display), None),
        status_reason=reason, primary_source=res.get("primarySource") is not False,
        immunization_id=ids.entity_id(res, "", full_url))
    return [Entry("immunization", command, ids.clinician(res), command.immunization_id,
                  ids.key(res, full_url), at)]


def contact(res: Resource, cls: str, start: datetime, end: datetime | None,
            episode_id, ids: IdPolicy, by: Clinician, full_url: str | None) -> Entry:
    """A contact of class ``cls`` (an HL7 v3 ActCode), its period already checked."""
    if not re.fullmatch(r"[A-Z_]{2,20}", cls):
        raise Unmappable(f"Encounter: class {cls[:20]!r} is not an HL7 v3 ActCode")
    types = tuple(c for t in res.get("type") or [] for c in coded(t))[:10]
    reasons = tuple(c for r in res.get("reasonCode") or [] for c in coded(r))[:10]
    command = RecordEncounter(
        class_code=cls, type=types, reason=reasons, started_at=start, ended_at=end,
        episode_id=episode_id, encounter_id=ids.entity_id(res, "contact", full_url),
        text=next((t for t in map(concept_text, res.get("type") or []) if t), None))
    return Entry("encounter", command, by, command.encounter_id, ids.key(res, full_url), start)


def _when(res: Resource, moment, prefix: str) -> tuple[datetime | None, datetime | None]:
    period = res.get(f"{prefix}Period") or {}
    return (moment(res.get(f"{prefix}DateTime") or period.get("start")),
            moment(period.get("end")))


def _dated(what: str, start: datetime | None, now: datetime) -> datetime:
    if start is None:
        raise Unmappable(f"{what}: no date and time")
    if start > now:
        raise Unmappable(f"{what}: dated in the future")
    return start


def _status_and_code(res: Resource, allowed: tuple[str, ...],
                     not_allowed: str) -> tuple[str, tuple[Coded, ...]]:
    what, status, code = res["resourceType"], res.get("status"), coded(res.get("code"))
    if status not in allowed:
        raise Unmappable(f"{what}: status {status!r} is not {not_allowed}")
    if not code:
        raise Unmappable(f"{what}: no coded code")
    return status, code


def procedure(res: Resource, full_url: str | None, ids: IdPolicy, moment,
              skipped: Counter[str]) -> list[Entry]:
    status, code = _status_and_code(res, ("completed", "in-progress", "not-done"),
                                    "a procedure that took place")
    start, end = _when(res, moment, "performed")
    start = _dated("Procedure", start, ids.now)
    if end is not None and not start <= end <= ids.now:
        end = None   # an end before the start or in the future is not kept
    command = RecordProcedure(
        status=status, code=code, text=concept_text(res.get("code")), performed_at=start,
        performed_end=end, reason=tuple(c for r in res.get("reasonCode") or []
                                        for c in coded(r))[:10],
        procedure_id=ids.entity_id(res, "", full_url))
    return [Entry("procedure", command, ids.clinician(res), command.procedure_id,
                  ids.key(res, full_url), start)]


def report(res: Resource, full_url: str | None, ids: IdPolicy, moment,
           skipped: Counter[str]) -> list[Entry]:
    status, code = _status_and_code(res, ("final", "amended", "corrected"), "a final report")
    at = _dated("DiagnosticReport", _when(res, moment, "effective")[0], ids.now)
    refs = tuple(r["reference"] for r in res.get("result") or []
                 if isinstance(r, dict) and isinstance(r.get("reference"), str))[:200]
    conclusion = res.get("conclusion")
    command = RecordReport(
        status=status, category=tuple(c for x in res.get("category") or []
                                      for c in coded(x))[:10],
        code=code, text=concept_text(res.get("code")), effective_at=at,
        conclusion=conclusion[:2000] if isinstance(conclusion, str) else None,
        report_id=ids.entity_id(res, "", full_url))
    return [Entry("report", command, ids.clinician(res), command.report_id,
                  ids.key(res, full_url), at, refers=refs)]


def mappers(moment) -> dict:
    """The mappers for ``from_fhir.map_bundle`` that read dates with ``moment``."""
    return {name: (lambda f: lambda r, u, i, s: f(r, u, i, moment, s))(f) for name, f in (
        ("Immunization", immunization), ("Procedure", procedure),
        ("DiagnosticReport", report))}


def resolve_reports(plan: Plan) -> None:
    """A report's results: the ids of the observations its references name, among the plan's
    entries (a blood pressure panel is its two vital signs); one not imported is left out."""
    ids: dict[str, list] = {}
    for e in plan.entries:
        if e.kind in ("observation", "result"):
            ids.setdefault(e.source.split("/", 1)[1], []).append(e.entity_id)
    for n, e in enumerate(plan.entries):
        if e.kind != "report" or not e.refers:
            continue
        found = [ids.get(ref.removeprefix("urn:uuid:").removeprefix("Observation/"))
                 for ref in e.refers]
        if None in found:
            plan.replaced["DiagnosticReport.result: an Observation not imported, left "
                          "out"] += found.count(None)
        results = tuple(i for x in found if x for i in x)
        plan.entries[n] = replace(e, command=e.command.model_copy(update={"results": results}),
                                  refers=())
