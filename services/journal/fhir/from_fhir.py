"""Incoming FHIR R4 resources -> journal commands. Pure: no I/O, no clock, no settings.

``map_bundle(bundle, ids)`` reads one patient's Bundle (transaction, batch or collection; the
resources as plain dicts) and returns a ``Plan``: the patient's registration, the journal entries
as ``Entry(kind, command, by, entity_id, ...)`` in clinical order (death last), what the policy
replaced, and ``skipped``: how many resources were left out, by a readable reason. Nothing is
written here: a caller (``ehr import synthea``, the journal's transaction endpoint) applies the
plan through ``JournalStore`` with ``register_decider`` / ``decider``, which are idempotent: an
entry whose ``entity_id`` the patient's record already holds decides no event.

What is mapped (everything else is counted in ``skipped``):

- Patient -> ``RegisterPatient``; ``deceasedDateTime`` -> ``RecordDeath`` (the last entry).
- Observation with a LOINC vital sign of ``clinical.VITALS`` -> ``RecordObservation``; a blood
  pressure panel (55284-4, 85354-9) gives one per component (8480-6, 8462-4). 8331-1 (oral
  temperature) is recorded as 8310-5 (body temperature), as FHIR R4's own example does
  (observation-example-f202-temperature carries both codes). Units are converted to the code's
  UCUM unit where the conversion is exact (g, [lb_av], [degF], K, kPa, ...); a value outside the
  journal's plausible range is skipped.
- Condition with one ICPC-2 or ICD-10 coding -> ``RecordCondition``; with more codings, or
  coded in SNOMED CT only -> ``RecordCodedCondition`` (every coding kept; ``domain/results.py``);
  either + ``ResolveCondition`` when it has an abatement date. No SNOMED CT -> ICPC-2 map.
- Other Observations (laboratory, height, BMI, pain, smoking, ...), Immunization, Procedure and
  DiagnosticReport: ``observations_in.py``; CarePlan and Goal: ``care_plans_in.py``.
- AllergyIntolerance (active, not refuted) -> ``RegisterCriticalInfo``: category medication ->
  ``drug_reaction``, any other -> ``other_allergy``; substance = ``code.text`` or the display.
- Encounter of any class -> ``RecordEncounter``; one of class EMER also a ``legevakt`` episode.

Dates must lie in the past (``ids.now``): the domain refuses future ones, so they are skipped
here with a reason. National ids, addresses, entity ids and the clinician come from the
``IdPolicy``: the base class reads Norwegian identifiers from the resources themselves;
``services.journal.fhir.synthea.SyntheaPolicy`` replaces US ones by synthetic demo values. A
``Plan`` never prints the national id (its fields are ``repr=False``).

Public API: ``map_bundle``, ``Plan``, ``Entry``, ``KINDS``, ``IdPolicy`` (``Identity``,
``Placed``, ``Unmappable``), ``BundleError``; applying a plan: ``deciders.py``.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from libs.kernel.time import OSLO, in_range_day, in_range_instant, local_day
from services.journal.domain.codes import ICD10, ICPC2, CodeError, code_system
from services.journal.domain import clinical, episodes, patients as pt
from services.journal.contract import Name, Sex
from services.journal.domain.patients import RegisterPatient
from services.journal.domain.results import RecordCodedCondition
from services.journal.fhir import care_plans_in as plans_in, observations_in as results_in
from services.journal.fhir.plan import (
    BP_COMPONENTS, BP_PANELS, BundleError, CONVERT, Entry, IdPolicy, LOINC, NOT_JOURNAL, Plan,
    Resource, SAME_AS, Unmappable, skip_reason,
)


# --- small readers ---------------------------------------------------------------------------

def _moment(value: Any) -> datetime | None:
    """A FHIR dateTime/instant with a time and a zone, or None (a date alone has no time, and
    a moment outside ``libs.kernel.time``'s plausible range is not read)."""
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return in_range_instant(parsed) if parsed.tzinfo is not None else None
    except ValueError:
        return None


def _day(value: Any) -> date | None:
    """A full date from a FHIR date or dateTime (a moment is taken as its day in Norway)."""
    if not isinstance(value, str):
        return None
    if (m := _moment(value)) is not None:
        return local_day(m)
    try:
        return in_range_day(date.fromisoformat(value)) if len(value) == 10 else None
    except ValueError:
        return None


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time(), OSLO)


def _codings(concept: Any) -> list[dict]:
    return [c for c in (concept or {}).get("coding") or [] if isinstance(c, dict)]


def _text(concept: Any) -> str | None:
    concept = concept or {}
    text = concept.get("text") or next((c.get("display") for c in _codings(concept)
                                        if c.get("display")), None)
    return text.strip() if isinstance(text, str) and text.strip() else None


def _status(concept: Any) -> str | None:
    return next((c.get("code") for c in _codings(concept) if c.get("code")), None)


def _reference(ref: Any) -> str | None:
    return ref.get("reference") if isinstance(ref, dict) else None


# --- the mapping -----------------------------------------------------------------------------

def map_bundle(bundle: dict, ids: IdPolicy, *, patient_id: UUID | None = None) -> Plan:
    """One patient's bundle as a ``Plan``. The bundle holds at most one Patient; without one,
    ``patient_id`` names the (registered) patient the entries are for. ``BundleError`` when the
    input is not such a bundle."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BundleError("The input is not a FHIR Bundle (resourceType must be \"Bundle\").")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise BundleError("Bundle.entry must be a list.")
    items: list[tuple[Resource, str | None]] = []
    for n, e in enumerate(entries):
        res = e.get("resource") if isinstance(e, dict) else None
        if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
            raise BundleError(f"Bundle.entry[{n}] has no resource with a resourceType.")
        items.append((res, e.get("fullUrl")))
    patients = [(r, u) for r, u in items if r["resourceType"] == "Patient"]
    if len(patients) > 1:
        raise BundleError(f"The bundle holds {len(patients)} Patient resources; one bundle is "
                          "one patient.")
    if patients:
        patient, full_url = patients[0]
        try:
            pid = ids.patient_id(patient, full_url)
        except Unmappable as exc:
            raise BundleError(exc.reason) from None
        refs = {f"Patient/{patient.get('id')}", f"urn:uuid:{patient.get('id')}", full_url}
        plan = Plan(patient_id=pid, source=ids.key(patient, full_url))
        _patient(plan, patient, ids)
    elif patient_id is not None:
        refs = {f"Patient/{patient_id}", f"urn:uuid:{patient_id}"}
        plan = Plan(patient_id=patient_id, source=f"Patient/{patient_id}")
    else:
        raise BundleError("The bundle holds no Patient resource and no patient was named.")
    refs.discard(None)
    plan.in_bundle.update(r["resourceType"] for r, _ in items)
    mappers = {"Observation": _observation, "Condition": _condition,
               "AllergyIntolerance": _allergy, "Encounter": _encounter,
               **results_in.mappers(_moment),   # Immunization, Procedure, DiagnosticReport
               **plans_in.mappers(_day)}        # CarePlan, Goal
    for res, full_url in items:
        kind = res["resourceType"]
        if kind == "Patient":
            continue
        subject = _reference(res.get("subject") or res.get("patient"))
        if subject is not None and kind in mappers and subject not in refs:
            plan.skipped[f"{kind}: refers to another patient"] += 1
            continue
        mapper = mappers.get(kind)
        if mapper is None:
            plan.skipped[NOT_JOURNAL.get(kind, f"{kind}: not a resource the journal imports")] += 1
            continue
        try:
            new = mapper(res, full_url, ids, plan.skipped)
        except (Unmappable, ValidationError) as exc:   # or a value our own models refuse
            plan.skipped[skip_reason(kind, exc)] += 1
            continue
        plan.entries.extend(new)
        plan.replaced.update(x for e in new for x in e.left_out)
    results_in.resolve_reports(plan)
    plans_in.resolve_care_plans(plan)   # a plan after what it names, at the same instant too
    deaths = [e for e in plan.entries if e.kind == "death"]
    plan.entries = sorted((e for e in plan.entries if e.kind != "death"), key=lambda e: (
        e.at, e.kind in ("care_plan", "goal"))) + deaths
    return plan


def _patient(plan: Plan, patient: Resource, ids: IdPolicy) -> None:
    death = _death(patient, ids, plan.source)
    if isinstance(death, str):
        plan.skipped[death] += 1
    elif death is not None:
        plan.entries.append(death)
    try:
        who, where, name = ids.identity(patient), ids.address(patient), _name(patient)
        birth = _day(patient.get("birthDate"))
        if birth is not None and birth > local_day(ids.now):
            raise Unmappable("Patient: birth date in the future")
        sex: Sex = patient.get("gender") if patient.get("gender") in (
            "female", "male", "other", "unknown") else "unknown"
        registration = RegisterPatient(national_id=who.national_id, assigner=who.assigner,
                                       birth_date=birth, name=name, sex=sex,
                                       address=where.address)
    except (Unmappable, ValidationError) as exc:
        plan.skipped[skip_reason("Patient", exc)] += 1
        return
    for note in (who.replaced, where.replaced):
        if note:
            plan.replaced[note] += 1
    plan.registration = registration
    plan.alternatives = who.alternatives


def _name(patient: Resource) -> Name:
    names = [n for n in patient.get("name") or [] if isinstance(n, dict)]
    best = next((n for n in names if n.get("use") == "official"), None) or next(
        (n for n in names if n.get("use") not in ("old", "maiden")), None)
    given = " ".join(g.strip() for g in (best or {}).get("given") or [] if g and g.strip())
    family = ((best or {}).get("family") or "").strip()
    if not given or not family:
        raise Unmappable("Patient: no name with both given and family name")
    return Name(given=given[:200], family=family[:200])


def _death(patient: Resource, ids: IdPolicy, source: str) -> Entry | str | None:
    if "deceasedDateTime" in patient:
        on = _day(patient["deceasedDateTime"])
        if on is None:
            return "Patient: date of death is not a full date"
        if on > local_day(ids.now):
            return "Patient: date of death in the future"
        return Entry("death", pt.RecordDeath(deceased_on=on), ids.clinician(patient), None,
                     source, _midnight(on))
    if patient.get("deceasedBoolean") is True:
        return "Patient: deceased without a date (the journal records the date of death)"
    return None


def _observation(res: Resource, full_url: str | None, ids: IdPolicy,
                 skipped: Counter[str]) -> list[Entry]:
    if res.get("status") not in ("final", "amended", "corrected"):
        raise Unmappable(f"Observation: status {res.get('status')!r} is not a result")
    loinc = [c.get("code") for c in _codings(res.get("code")) if c.get("system") == LOINC]
    at = _moment(res.get("effectiveDateTime") or res.get("effectiveInstant")
                 or (res.get("effectivePeriod") or {}).get("start"))
    if at is None:
        raise Unmappable("Observation: no effective date and time")
    if at > ids.now:
        raise Unmappable("Observation: dated in the future")
    by, source = ids.clinician(res), ids.key(res, full_url)
    panel = next((c for c in loinc if c in BP_PANELS), None)
    if panel is not None:
        out, problems = [], []
        for comp in res.get("component") or []:
            codes = [c.get("code") for c in _codings(comp.get("code"))
                     if c.get("system") == LOINC]
            code = next((c for c in codes if c in BP_COMPONENTS), None)
            if code is None:
                continue
            try:
                value = _vital(code, comp.get("valueQuantity"))
            except Unmappable as exc:
                problems.append(exc.reason)
                continue
            out.append(Entry("observation", clinical.RecordObservation(
                code=code, value=value, ucum=clinical.VITALS[code][1], effective_at=at), by,
                ids.entity_id(res, code, full_url), source, at))
        if not out:
            raise Unmappable(problems[0] if problems else
                             f"Observation LOINC {panel}: a blood pressure panel without "
                             "systolic or diastolic component")
        skipped.update(problems)  # one component mapped, the other is counted on its own
        return out
    code = next((SAME_AS.get(c, c) for c in loinc if SAME_AS.get(c, c) in clinical.VITALS),
                None)
    if code is None:   # not a vital sign of the journal's: a result (observations_in.py)
        return results_in.result(res, full_url, ids, at, skipped)
    value = _vital(code, res.get("valueQuantity"))
    return [Entry("observation", clinical.RecordObservation(
        code=code, value=value, ucum=clinical.VITALS[code][1], effective_at=at), by,
        ids.entity_id(res, "", full_url), source, at)]


def _vital(code: str, quantity: Any) -> float:
    name, ucum, low, high = clinical.VITALS[code]
    value = quantity.get("value") if isinstance(quantity, dict) else None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise Unmappable(f"Observation LOINC {code}: no numeric value")
    unit = quantity.get("code") or quantity.get("unit") or ucum
    convert = CONVERT.get(ucum, {}).get(unit)
    if convert is None:
        raise Unmappable(f"Observation LOINC {code}: unit {unit!r} cannot be converted to "
                         f"{ucum!r}")
    if unit != ucum:
        value = round(convert(float(value)), 3)
    if not low <= value <= high:
        raise Unmappable(f"Observation LOINC {code}: {name.lower()} outside the plausible "
                         f"range {low:g}-{high:g} {ucum}")
    return value


def _diagnosis(concept: Any) -> tuple[str, str] | None:
    found: list[tuple[str, str]] = []
    for c in _codings(concept):
        try:
            cs = code_system(c.get("system") or "")
        except CodeError:
            continue
        if cs in (ICPC2, ICD10) and c.get("code"):
            found.append((cs.name, c["code"]))
    found.sort(key=lambda x: x[0] != ICPC2.name)  # ICPC-2 first: primary care
    return found[0] if found else None


def _condition(res: Resource, full_url: str | None, ids: IdPolicy,
               skipped: Counter[str]) -> list[Entry]:
    if _status(res.get("verificationStatus")) in ("refuted", "entered-in-error"):
        raise Unmappable("Condition: refuted or entered in error")
    coded, codings = _diagnosis(res.get("code")), results_in.coded(res.get("code"))
    if not codings:
        raise Unmappable("Condition: not coded (no coding with a system and a code)")
    onset_value = res.get("onsetDateTime") or (res.get("onsetPeriod") or {}).get("start")
    onset = _day(onset_value)
    today = local_day(ids.now)
    if onset is not None and onset > today:
        raise Unmappable("Condition: onset in the future")
    abated = _day(res.get("abatementDateTime")
                  or (res.get("abatementPeriod") or {}).get("end"))
    clinical_status = _status(res.get("clinicalStatus"))
    if abated is None and clinical_status in ("resolved", "inactive", "remission"):
        raise Unmappable("Condition: resolved without an abatement date")
    if abated is not None and (abated > today or (onset is not None and abated < onset)):
        raise Unmappable("Condition: abatement date in the future or before the onset")
    recorded = _day(res.get("recordedDate"))
    at = _midnight(onset or recorded or today)
    by, cid, source = ids.clinician(res), ids.entity_id(res, "", full_url), ids.key(res, full_url)
    out = [Entry("condition", clinical.RecordCondition(system=coded[0], code=coded[1],
                                                       onset=onset), by, cid, source, at)
           if coded is not None and len(codings) == 1 else   # else every coding is kept
           Entry("coded_condition", RecordCodedCondition(
               codings=codings, text=results_in.concept_text(res.get("code")), onset=onset,
               condition_id=cid), by, cid, source, at)]
    if abated is not None:
        out.append(Entry("condition_resolved", clinical.ResolveCondition(
            condition_id=cid, resolved_on=abated), by, cid, source, max(at, _midnight(abated))))
    return out


def _allergy(res: Resource, full_url: str | None, ids: IdPolicy,
             skipped: Counter[str]) -> list[Entry]:
    if _status(res.get("verificationStatus")) in ("refuted", "entered-in-error"):
        raise Unmappable("AllergyIntolerance: refuted or entered in error")
    if _status(res.get("clinicalStatus")) in ("inactive", "resolved"):
        raise Unmappable("AllergyIntolerance: no longer active")
    substance = _text(res.get("code"))
    if substance is None:
        raise Unmappable("AllergyIntolerance: no substance (code without text or display)")
    recorded = _moment(res.get("recordedDate")) or _moment(res.get("onsetDateTime"))
    if recorded is not None and recorded > ids.now:
        raise Unmappable("AllergyIntolerance: recorded in the future")
    category = ("drug_reaction" if "medication" in (res.get("category") or [])
                else "other_allergy")
    reactions = [r for r in res.get("reaction") or [] if isinstance(r, dict)]
    manifest = "; ".join(t for r in reactions for m in r.get("manifestation") or []
                         if (t := _text(m)))
    rank = {"mild": 1, "moderate": 2, "severe": 3}
    severities = [r["severity"] for r in reactions if r.get("severity") in rank]
    notes = " ".join(n.get("text", "").strip() for n in res.get("note") or []
                     if isinstance(n, dict) and n.get("text", "").strip())
    command = clinical.RegisterCriticalInfo(
        category=category, substance=substance[:200], text=notes[:2000] or None,
        reaction=manifest[:2000] or None,
        severity=max(severities, key=rank.__getitem__) if severities else None)
    return [Entry("critical_info", command, ids.clinician(res),
                  ids.entity_id(res, "", full_url), ids.key(res, full_url),
                  recorded or _midnight(local_day(ids.now)))]


def _encounter(res: Resource, full_url: str | None, ids: IdPolicy,
               skipped: Counter[str]) -> list[Entry]:
    cls = (res.get("class") or {}).get("code")
    if not isinstance(cls, str):
        raise Unmappable("Encounter: no class (an HL7 v3 ActCode)")
    if res.get("status") in ("planned", "cancelled", "entered-in-error", "unknown"):
        raise Unmappable(f"Encounter: status {res.get('status')!r} is not a contact that "
                         "took place")
    period = res.get("period") or {}
    start, end = _moment(period.get("start")), _moment(period.get("end"))
    if start is None:
        raise Unmappable("Encounter: no start date and time")
    if start > ids.now or (end is not None and end > ids.now):
        raise Unmappable("Encounter: dated in the future")
    if end is not None and end < start:
        raise Unmappable("Encounter: ends before it starts")
    by = ids.clinician(res)
    kinds = [t for t in (_text(x) for x in res.get("type") or []) if t]
    why = [t for t in (_text(x) for x in res.get("reasonCode") or []) if t]
    reason = ": ".join(x for x in ("; ".join(kinds), "; ".join(why)) if x) or None
    eid, source = ids.entity_id(res, "", full_url), ids.key(res, full_url)
    contact = results_in.contact(res, cls, start, end, eid if cls == "EMER" else None, ids, by,
                                 full_url)
    if cls != "EMER":   # an emergency is also a legevakt episode
        return [contact]
    out = [Entry("episode_started", episodes.StartEpisode(
        kind="legevakt", unit=by.unit, started_at=start,
        reason=reason[:2000] if reason else None), by, eid, source, start)]
    if end is not None:
        out.append(Entry("episode_ended", episodes.EndEpisode(episode_id=eid, ended_at=end),
                         by, eid, source, end))
    return [out[0], contact, *out[1:]]
