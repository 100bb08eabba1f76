"""FHIR R4 for the medication list: MedicationStatement (an entry), MedicationRequest (a
prescription), MedicationAdministration (a dose given, missed or refused) and List (the
patient's medication list, PLL), as ``fhir.py`` maps them and the projection versions them.

- Reads (``libs/web/fhir_reads.py``): read, vread, ``_history``, search by ``patient`` with
  ``date``, ``code`` (FEST product id or ATC code), ``status``, ``_count``/``_offset`` and
  ``as_of`` (an extension: the resources as they stood at an instant). Every read is decided
  and logged as an access to the patient's medication (category ``medication``); an unknown id
  is answered like a patient the caller may not see (403, the same text).
- Versions: MedicationStatement, MedicationRequest and MedicationAdministration are numbered
  1, 2, 3 per resource; the List by the list's stream version when it last changed (1, 2, 5,
  ...), the number the REST API's ``ETag`` carries when that change was the list's last event.
- ``POST /fhir/MedicationRequest`` orders a catalogue product through the same decision as
  ``POST /patients/{id}/medication-list/prescriptions``: ``If-Match`` names the list version
  (428 without, 412 when stale), decision support runs, and going ahead against an "avoid"
  warning needs the reason in the extension ``EXT_OVERRIDE_REASON`` (valueString). The body is
  read with the fhir.resources R4B models; what cannot be mapped is a 422 naming the element.
  The answer is 201 with the MedicationRequest (version 1), ``Location``, the list's new version
  as ``ETag`` (what the next change names in ``If-Match``) and ``X-Consistency-Token``.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Header, Query, Request
from fhir.resources.R4B.medicationrequest import MedicationRequest
from pydantic import ValidationError

from libs.access.fhir import CODE_BASE
from libs.access.guard import PURPOSE, AccessDep, CurrentSubject
from libs.access.model import Action, Resource
from libs.access.policy import OSLO
from libs.web.consistency import set_consistency_token
from libs.web.errors import FhirJSONResponse, describe_error, validation_diagnostics
from libs.web.fhir_reads import (
    READ_INTERACTIONS, AsOf, Count, FhirReads, FhirType, Offset, etag_headers, fhir_base,
    required_patient, resource_capability, server_capabilities,
)
from services.medication import api, fhir
from services.medication.domain import Refused
from services.medication.domain import medication_list as ml
from services.medication.handlers import MedicationStore

router = APIRouter(prefix="/fhir", tags=["FHIR R4"])

EXT_OVERRIDE_REASON = f"{CODE_BASE}/StructureDefinition/override-reason"
"""On a MedicationRequest sent to be ordered: why it goes ahead against an "avoid" warning
(valueString); recorded with the warnings (``medication.WarningsRecorded``)."""

DRUG = ("medicationCodeableConcept",)
TYPES: dict[str, FhirType] = {
    "MedicationStatement": FhirType("medication", ("effectivePeriod.start", "dateAsserted"),
                                    DRUG),
    "MedicationRequest": FhirType("medication", ("authoredOn",), DRUG),
    "MedicationAdministration": FhirType("medication", ("effectiveDateTime",), DRUG),
    "List": FhirType("medication", ("date",), ("code",)),
}
READS = FhirReads("The medication service", TYPES, Refused)

PATIENT_REQUIRED = ("patient is required: the medication service searches one patient's "
                    "medication list at a time.")
DATES = {"MedicationStatement": "effectivePeriod.start (else dateAsserted)",
         "MedicationRequest": "authoredOn", "MedicationAdministration": "effectiveDateTime",
         "List": "date (the last change of the list's entries)"}
CODES = {"List": "LOINC 10160-0, the list's code"}
LIST_DOC = ("The patient's medication list (PLL), id = the patient's id. Its versionId is the "
            "list's version (the REST ETag, what If-Match names): every change, also a dose "
            "given, makes a version; the date is the last change of its entries.")
ORDER_DOC = (
    "Order a catalogue product, the same decision as POST "
    "/patients/{id}/medication-list/prescriptions. If-Match is required and names the "
    "medication list's version (the ETag of that list or of the last change): 428 without, "
    "412 when stale. status active, intent order, subject Patient/<id>; the product as a "
    f"medicationCodeableConcept coding of {fhir.FEST_MERKEVARE} (an ATC coding, when given, "
    "must match it); one dosageInstruction: timing.repeat.timeOfDay, or frequency per period "
    "1 d, or asNeededBoolean with maxDosePerPeriod per 1 d; doseAndRate.doseQuantity; "
    "route.text (default oral); timing.repeat.boundsPeriod = the treatment's start and end "
    "(dates); additionalInstruction/patientInstruction text; reasonCode text = the "
    "indication. authoredOn and requester are the server's (now, the caller). Going ahead "
    f"against an \"avoid\" warning needs the extension {EXT_OVERRIDE_REASON} (valueString); "
    "without it 422 listing the warnings. 201 with the MedicationRequest; ETag = the list's "
    "new version.")


# --- reads -------------------------------------------------------------------------------------

@router.get("/metadata")
async def capability_statement():
    """What this server does, exactly: the reads of every type, and ordering."""
    resources = []
    for rtype in TYPES:
        params = [{"name": "patient", "type": "reference", "documentation": "required"},
                  {"name": "date", "type": "date", "documentation": DATES[rtype]},
                  {"name": "code", "type": "token", "documentation": CODES.get(
                      rtype, "FEST product id or ATC code: code or system|code")},
                  {"name": "status", "type": "token"}]
        writes = [{"code": "create", "documentation": ORDER_DOC}] * (rtype == "MedicationRequest")
        more = {"documentation": LIST_DOC} if rtype == "List" else {}
        resources.append(resource_capability(rtype, params, [*writes, *READ_INTERACTIONS],
                                             **more))
    return FhirJSONResponse(server_capabilities(
        resources, date_="2026-11-29",
        implementation={"description": "Pasientens legemiddelliste (PLL): the medication "
                                       "service's FHIR R4 API"},
        rest={"searchParam": [
            {"name": "_count", "type": "number", "documentation": "page size, 1 to 500, "
                                                                  "default 50"},
            {"name": "_offset", "type": "number", "documentation": "where the page starts; "
                                                                   "the next link sets it"},
            {"name": "as_of", "type": "date", "documentation": "extension: search or read "
                                                               "the resources as they stood "
                                                               "at this instant"}]}))


@router.get("/{rtype}")
async def search(rtype: str, request: Request, who: CurrentSubject, access: AccessDep,
                 patient: Annotated[str | None, Query(description="Patient/<id>")] = None,
                 date_: Annotated[list[str] | None, Query(alias="date")] = None,
                 code: Annotated[str | None, Query(description="code or system|code")] = None,
                 status: Annotated[str | None, Query()] = None,
                 count: Count = 50, offset: Offset = 0, as_of: AsOf = None):
    """Search one patient's resources of a type, newest first, a page at a time."""
    rtype = READS.type(rtype)
    patient_id = required_patient(patient, PATIENT_REQUIRED)
    grant = await READS.search_allowed(access, who, patient_id, rtype)
    return await READS.search(request, grant, patient_id, rtype, date_=date_, code=code,
                              status=status, count=count, offset=offset, as_of=as_of)


@router.get("/{rtype}/{rid}")
async def read(rtype: str, rid: str, request: Request, who: CurrentSubject, access: AccessDep,
               as_of: AsOf = None):
    rtype = READS.type(rtype)
    await READS.resource_allowed(request, access, who, rtype, rid)
    return await READS.read(request, rtype, rid, as_of)


@router.get("/{rtype}/{rid}/_history")
async def history(rtype: str, rid: str, request: Request, who: CurrentSubject,
                  access: AccessDep):
    """Every version, newest first: a paused, renewed or discontinued entry shows each step."""
    rtype = READS.type(rtype)
    await READS.resource_allowed(request, access, who, rtype, rid)
    return await READS.history(request, rtype, rid)


@router.get("/{rtype}/{rid}/_history/{vid}")
async def vread(rtype: str, rid: str, vid: str, request: Request, who: CurrentSubject,
                access: AccessDep):
    rtype = READS.type(rtype)
    await READS.resource_allowed(request, access, who, rtype, rid)
    return await READS.vread(request, rtype, rid, vid)


# --- ordering: POST /fhir/MedicationRequest ----------------------------------------------------

@router.post("/MedicationRequest", status_code=201)
async def order(request: Request, who: CurrentSubject, access: AccessDep,
                body: Annotated[dict[str, Any], Body(description="an R4 MedicationRequest")],
                if_match: api.IfMatch = None,
                purpose: Annotated[str | None, Header(alias=PURPOSE)] = None):
    """Order a catalogue product (see ``ORDER_DOC``): decided and logged as a change of the
    patient's medication list, then the same decision support and ``If-Match`` as REST."""
    sent = _parsed(body)
    patient_id = _subject(sent)
    grant = await access.require(who, Action.write, Resource(
        patient_id=patient_id, category="medication"), purpose=purpose,
        resources=("MedicationRequest",))
    by, catalogue = api.actor(grant.subject), api.catalogue_of(request)
    now = access.now()
    command = prescribe_command(sent, catalogue, now)
    cave = await request.app.state.reader.cave(patient_id)
    fresh = request.app.state.fresh_within
    store: MedicationStore = request.app.state.medication
    try:
        result = await api.append_against(store, patient_id, grant, lambda lst: ml.prescribe(
            lst, command, by, now, catalogue=catalogue, cave=cave, fresh_within=fresh),
            if_match)
    except Refused as exc:
        if exc.status == 422 and exc.warnings:   # the same refusal, in this API's words
            raise Refused(422, f"{sum(w.level == 'avoid' for w in exc.warnings)} warning(s) "
                               "say this should be avoided: going ahead needs a stated reason "
                               f"in the extension {EXT_OVERRIDE_REASON} (valueString).",
                          exc.warnings) from None
        raise
    assert result is not None   # an order always records its prescription
    state, _ = await store.current(patient_id)   # the cached fold, with the new events
    prescription_id = str(result.envelopes[0].data["prescription_id"])
    # the new resource as the projection will store it: version 1, updated at the append
    created = fhir.resource(state, "MedicationRequest", prescription_id) | {"meta": {
        "versionId": "1", "lastUpdated": result.envelopes[0].recorded_at.isoformat()}}
    location = f"{fhir_base(request)}/MedicationRequest/{prescription_id}/_history/1"
    answer = FhirJSONResponse(created, status_code=201, headers=etag_headers(created) | {
        "Location": location})
    set_consistency_token(answer, result)
    answer.headers["ETag"] = api.etag(result.version)
    return answer


# --- an R4 MedicationRequest -> the domain's Prescribe ----------------------------------------

_IGNORED = {"resourceType", "id", "meta", "text", "language",
            "authoredOn", "requester"}   # the server's: now, and the caller
_TOP = _IGNORED | {"status", "intent", "subject", "medicationCodeableConcept",
                   "dosageInstruction", "reasonCode", "extension"}
_DOSAGE = {"text", "timing", "asNeededBoolean", "route", "doseAndRate", "maxDosePerPeriod",
           "additionalInstruction", "patientInstruction"}
_REPEAT = {"frequency", "period", "periodUnit", "timeOfDay", "boundsPeriod"}
_HINTS = {"medicationReference": "name the product in medicationCodeableConcept",
          "dispenseRequest": "the treatment period is dosageInstruction.timing.repeat."
                             "boundsPeriod; dispensing is the pharmacy's",
          "modifierExtension": "no modifier extension is understood here"}
_ROUTES = {**{k: k for k in fhir.ROUTE_NO}, **{v: k for k, v in fhir.ROUTE_NO.items()}}


def _problem(where: str, text: str) -> Refused:
    return Refused(422, f"MedicationRequest.{where}: {text}")


def _only(node: dict, allowed: set[str], where: str) -> None:
    for key in node:
        if key not in allowed:
            hint = _HINTS.get(key, "it is not supported here")
            raise _problem(f"{where}{key}", f"{hint}.")


def _parsed(body: dict) -> dict[str, Any]:
    """The body read as an R4 MedicationRequest, as JSON again with the R4 types (a number
    sent as a string is a number); a 422 naming each element that is not one (never repeating
    the values sent)."""
    if body.get("resourceType") != "MedicationRequest":
        raise Refused(422, "resourceType: send a MedicationRequest.")
    try:
        return MedicationRequest.model_validate(body).model_dump(
            mode="json", by_alias=True, exclude_none=True)
    except ValidationError as exc:
        errors = [e | {"loc": ("MedicationRequest", *e.get("loc", ()))} for e in exc.errors()]
        raise Refused(422, "; ".join(validation_diagnostics(errors))) from None
    except (TypeError, ValueError):
        raise Refused(422, "MedicationRequest: not a valid R4 MedicationRequest.") from None


def _subject(sent: dict[str, Any]) -> UUID:
    ref = sent["subject"].get("reference") or ""
    try:
        if not ref.startswith("Patient/"):
            raise ValueError
        return UUID(ref.removeprefix("Patient/"))
    except ValueError:
        raise _problem("subject", "a reference Patient/<id>.") from None


def prescribe_command(body: dict, catalogue, now: datetime) -> ml.Prescribe:
    """The order as the domain's ``Prescribe``; 422 naming the element that cannot be mapped.
    ``body`` is what ``_parsed`` returned, so its elements have their R4 types."""
    _only(body, _TOP, "")
    if body["status"] != "active":
        raise _problem("status", "an order is sent as active.")
    if body["intent"] != "order":
        raise _problem("intent", "only an order (intent order) is accepted.")
    dosages = body.get("dosageInstruction") or []
    if len(dosages) != 1:
        raise _problem("dosageInstruction", "give exactly one dosage instruction.")
    dose, start, end = _dose(dosages[0], now)
    fields = {"product_id": _product(body.get("medicationCodeableConcept"), catalogue),
              "dose": dose, "indication": _indication(body.get("reasonCode") or []),
              "start_on": start, "end_on": end,
              "override_reason": _override_reason(body.get("extension") or [])}
    try:
        return ml.Prescribe(**fields)
    except ValidationError as exc:
        raise Refused(422, "; ".join(describe_error(e | {"loc": _element(e.get("loc", ()))})
                                     for e in exc.errors())) from None


def _element(loc: tuple) -> tuple[str, ...]:
    """Where a field of ``Prescribe`` came from in the MedicationRequest."""
    at, quantity = "dosageInstruction[0]", "dosageInstruction[0].doseAndRate[0].doseQuantity"
    field = str(loc[-1]) if loc else ""
    return ("MedicationRequest", {
        "product_id": "medicationCodeableConcept", "indication": "reasonCode",
        "override_reason": f"extension({EXT_OVERRIDE_REASON})",
        "unit": f"{quantity}.unit", "amount": f"{quantity}.value",
        "instructions": f"{at}.additionalInstruction", "route": f"{at}.route",
    }.get(field, at))


def _product(concept: dict | None, catalogue) -> str:
    codings = (concept or {}).get("coding") or []
    fest = [c.get("code") for c in codings if c.get("system") == fhir.FEST_MERKEVARE]
    if len(fest) != 1 or not fest[0]:
        raise _problem("medicationCodeableConcept", f"one coding of system "
                       f"{fhir.FEST_MERKEVARE} (the FEST product id) names the product.")
    product = catalogue.product(fest[0].strip())
    if product is None:
        raise _problem("medicationCodeableConcept", "the FEST product is not in the drug "
                                                    "catalogue.")
    atc = {c.get("code") for c in codings if c.get("system") == fhir.ATC}
    if atc and atc != {product.atc}:
        raise _problem("medicationCodeableConcept", f"the ATC coding does not match the "
                                                    f"product ({product.name}).")
    return fest[0].strip()


def _indication(concepts: list[dict]) -> str | None:
    texts = []
    for i, concept in enumerate(concepts):
        text = concept.get("text") or "; ".join(
            c["display"] for c in concept.get("coding") or [] if c.get("display"))
        if not text:
            raise _problem(f"reasonCode[{i}]", "give the indication as text.")
        texts.append(text)
    return "; ".join(texts) or None


def _override_reason(extensions: list[dict]) -> str | None:
    for i, ext in enumerate(extensions):
        if ext.get("url") == EXT_OVERRIDE_REASON:
            if not isinstance(ext.get("valueString"), str):
                raise _problem(f"extension[{i}]", "the override reason is a valueString.")
            return ext["valueString"]
    return None   # other (not modifier) extensions may be ignored


def _dose(d: dict, now: datetime) -> tuple[dict[str, Any], date | None, date | None]:
    """One dosage instruction: the dose (``DoseIn``'s fields), and the treatment's first and
    last day (``timing.repeat.boundsPeriod``)."""
    at = "dosageInstruction[0]."
    _only(d, _DOSAGE, at)
    timing = d.get("timing") or {}
    _only(timing, {"repeat"}, f"{at}timing.")
    repeat = timing.get("repeat") or {}
    _only(repeat, _REPEAT, f"{at}timing.repeat.")
    amount, unit = _quantity(d.get("doseAndRate") or [], at)
    times = _times(repeat.get("timeOfDay") or [], f"{at}timing.repeat.timeOfDay")
    frequency = repeat.get("frequency")
    as_needed = d.get("asNeededBoolean") is True
    if as_needed and (times or frequency is not None):
        raise _problem(f"{at}timing.repeat", "an as-needed dose (asNeededBoolean) has no "
                                             "planned times.")
    if not as_needed and not times and frequency is None:
        raise _problem(f"{at}timing", "give repeat.timeOfDay, repeat.frequency per day, or "
                                      "asNeededBoolean with maxDosePerPeriod.")
    if frequency is not None or times:
        if repeat.get("period", 1) != 1 or repeat.get("periodUnit", "d") != "d":
            raise _problem(f"{at}timing.repeat", "a dose is planned per day: period 1, "
                                                 "periodUnit d.")
        if times and frequency not in (None, len(times)):
            raise _problem(f"{at}timing.repeat.frequency", "is the number of timeOfDay.")
        if len(set(times)) != len(times):
            raise _problem(f"{at}timing.repeat.timeOfDay", "each time of day is given once.")
        if not times and not 1 <= frequency <= 24:
            raise _problem(f"{at}timing.repeat.frequency", "is between 1 and 24 a day.")
    most = _most_per_day(d.get("maxDosePerPeriod"), unit, at) if "maxDosePerPeriod" in d \
        else None
    if as_needed and most is None:
        raise _problem(f"{at}maxDosePerPeriod", "an as-needed dose needs its maximum per day.")
    if most is not None and not as_needed:
        raise _problem(f"{at}maxDosePerPeriod", "only for an as-needed dose (asNeededBoolean).")
    if most is not None and most < amount:
        raise _problem(f"{at}maxDosePerPeriod", "is less than one dose.")
    start, end = _bounds(repeat.get("boundsPeriod"), now, f"{at}timing.repeat.boundsPeriod")
    texts = [x.get("text") for x in d.get("additionalInstruction") or []] + [
        d.get("patientInstruction")]
    return {"amount": amount, "unit": unit, "route": _route(d.get("route"), at),
            "times_of_day": times, "times_per_day": None if times or as_needed else frequency,
            "as_needed": as_needed, "max_per_day": most,
            "instructions": "; ".join(t for t in texts if t) or None}, start, end


def _times(raw: list[str], at: str) -> list[time]:
    try:
        return [time.fromisoformat(t) for t in raw]
    except ValueError:   # R4 allows a leap second, 08:00:60
        raise _problem(at, "times of day such as 08:00:00.") from None


def _quantity(rates: list[dict], at: str) -> tuple[float, str]:
    if len(rates) != 1 or set(rates[0]) != {"doseQuantity"}:
        raise _problem(f"{at}doseAndRate", "give one doseQuantity (no dose range or rate).")
    q = rates[0]["doseQuantity"]
    amount, unit = q.get("value"), (q.get("unit") or q.get("code") or "").strip()
    if amount is None or not math.isfinite(float(amount)) or float(amount) <= 0:
        raise _problem(f"{at}doseAndRate[0].doseQuantity.value", "a dose is more than zero.")
    if not unit:
        raise _problem(f"{at}doseAndRate[0].doseQuantity.unit", "name the unit of the dose "
                                                                "(e.g. mg or tablett).")
    return float(amount), unit


def _most_per_day(ratio: dict, unit: str, at: str) -> float:
    top, per = ratio.get("numerator") or {}, ratio.get("denominator") or {}
    most = top.get("value")
    if most is None or not math.isfinite(float(most)) or top.get("unit", unit) != unit:
        raise _problem(f"{at}maxDosePerPeriod.numerator", "the most per day, in the dose's "
                                                          "unit.")
    if per.get("value") != 1 or (per.get("code") or per.get("unit")) != "d":
        raise _problem(f"{at}maxDosePerPeriod.denominator", "per day: value 1, unit d.")
    return float(most)


def _route(concept: dict | None, at: str) -> str:
    if not concept:
        return "oral"
    text = (concept.get("text") or "").strip().casefold()
    if text not in _ROUTES:
        raise _problem(f"{at}route.text", f"one of {', '.join(fhir.ROUTE_NO)} (or in "
                                          "Norwegian, as this server writes it).")
    return _ROUTES[text]


def _bounds(period: dict | None, now: datetime, at: str) -> tuple[date | None, date | None]:
    """The treatment's first and last day (Oslo)."""
    if not period:
        return None, None
    start, end = (_day(period.get(k), f"{at}.{k}") for k in ("start", "end"))
    if start is not None and start < now.astimezone(OSLO).date():
        raise _problem(f"{at}.start", "a prescription starts today or later.")
    if end is not None and end < (start or now.astimezone(OSLO).date()):
        raise _problem(f"{at}.end", "is before the start.")
    return start, end


def _day(raw: str | None, at: str) -> date | None:
    if raw is None:
        return None
    try:
        if "T" in raw:
            moment = datetime.fromisoformat(raw)
            return (moment if moment.tzinfo else moment.replace(tzinfo=OSLO)).astimezone(
                OSLO).date()
        return date.fromisoformat(raw)
    except ValueError:
        raise _problem(at, "a full date, e.g. 2026-03-01.") from None
