"""An R4 MedicationRequest sent to ``POST /fhir/MedicationRequest`` into the domain's
``Prescribe`` command: read with the fhir.resources R4B models, then element by element. What
cannot be mapped is ``Invalid`` naming the element (never echoing its value). The treatment
runs over ``dosageInstruction.timing.repeat.boundsPeriod``; the product is a FEST product id
coding; the reason to go ahead against an "avoid" warning is the extension
``EXT_OVERRIDE_REASON``.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time
from typing import Any
from uuid import UUID

from fhir.resources.R4B.medicationrequest import MedicationRequest
from pydantic import ValidationError

from libs.web.fhir.elements import CODE_BASE
from libs.kernel.time import OSLO, RANGE_TEXT, in_range_day, in_range_instant
from libs.web.errors import describe_error, validation_diagnostics
from libs.kernel.errors import Invalid
from services.medication.domain import medication_list as ml
from services.medication.fhir.elements import ATC, FEST_ALSO, FEST_MERKEVARE, ROUTE_NO

EXT_OVERRIDE_REASON = f"{CODE_BASE}/StructureDefinition/override-reason"
"""On a MedicationRequest sent to be ordered: why it goes ahead against an "avoid" warning
(valueString); recorded with the warnings (``medication.WarningsRecorded``)."""


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
_ROUTES = {**{k: k for k in ROUTE_NO}, **{v: k for k, v in ROUTE_NO.items()}}


def _problem(where: str, text: str) -> Invalid:
    return Invalid(f"MedicationRequest.{where}: {text}")


def _only(node: dict, allowed: set[str], where: str) -> None:
    for key in node:
        if key not in allowed:
            hint = _HINTS.get(key, "it is not supported here")
            raise _problem(f"{where}{key}", f"{hint}.")


def parsed(body: dict, model: type = MedicationRequest) -> dict[str, Any]:
    """The body read as an R4 ``model`` (a MedicationRequest), as JSON again with the R4 types
    (a number sent as a string is a number); a 422 naming each element that is not one (never
    repeating the values sent)."""
    name = model.__name__
    if body.get("resourceType") != name:
        raise Invalid(f"resourceType: send a {name}.")
    try:
        return model.model_validate(body).model_dump(mode="json", by_alias=True,
                                                     exclude_none=True)
    except ValidationError as exc:
        errors = [e | {"loc": (name, *e.get("loc", ()))} for e in exc.errors()]
        raise Invalid("; ".join(validation_diagnostics(errors))) from None
    except (TypeError, ValueError):
        raise Invalid(f"{name}: not a valid R4 {name}.") from None


def subject_of(sent: dict[str, Any], rtype: str) -> UUID:
    ref = (sent.get("subject") or {}).get("reference") or ""
    try:
        if not ref.startswith("Patient/"):
            raise ValueError
        return UUID(ref.removeprefix("Patient/"))
    except ValueError:
        raise Invalid(f"{rtype}.subject: a reference Patient/<id>.") from None


def subject(sent: dict[str, Any]) -> UUID:
    return subject_of(sent, "MedicationRequest")


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
        raise Invalid("; ".join(describe_error(e | {"loc": _element(e.get("loc", ()))})
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
    fest = [c.get("code") for c in codings if c.get("system") in (FEST_MERKEVARE, *FEST_ALSO)]
    if len(fest) != 1 or not fest[0]:
        raise _problem("medicationCodeableConcept", f"one coding of system "
                       f"{FEST_MERKEVARE} (the FEST product id) names the product.")
    product = catalogue.product(fest[0].strip())
    if product is None:
        raise _problem("medicationCodeableConcept", "the FEST product is not in the drug "
                                                    "catalogue.")
    atc = {c.get("code") for c in codings if c.get("system") == ATC}
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
        raise _problem(f"{at}route.text", f"one of {', '.join(ROUTE_NO)} (or in "
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
            moment = in_range_instant(moment if moment.tzinfo else moment.replace(tzinfo=OSLO))
            return moment.astimezone(OSLO).date()
        return in_range_day(date.fromisoformat(raw))
    except (ValueError, OverflowError):
        raise _problem(at, f"a full date {RANGE_TEXT}, e.g. 2026-03-01.") from None
