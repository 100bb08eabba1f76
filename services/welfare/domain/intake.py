"""A device's FHIR R4 Observation or Flag, read into a reading (pure).

What a device sends (VkpObservation, vkp-Flag, DOMAIN.md §8):

- ``identifier[0].value``: the device's own event id (idempotency: the same id from the same
  device is the same reading);
- ``subject.reference``: ``Patient/<patient id>`` (the internal id the device was assigned to);
- an Observation: ``code`` a LOINC code of ``codes.MEASURES``, ``effectiveDateTime``, and
  ``valueQuantity`` (or, for the blood-pressure panel, one ``component`` per part) in the code's
  UCUM unit (``system`` http://unitsofmeasure.org);
- a Flag: ``code`` a VKP code with its system, ``period.start``, and the severity 0-3 in the
  ``vkp-severity-level`` extension (``valueInteger`` or ``valueCoding.code``; the code's usual
  severity when absent).

Anything else is ``Invalid`` with a sentence saying what and where. Nothing here knows whether
the patient exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from libs.kernel.errors import Invalid
from libs.kernel.time import clinical_time
from services.welfare.contract import Component, DeviceEvent, Measurement
from services.welfare.domain import codes

FUTURE_SKEW = timedelta(minutes=5)   # a device clock may run this far ahead
READING_NAMESPACE = UUID("8f6c1a52-0b7e-4c1e-9a55-2f1d6b3c9e01")


def reading_id(device: str, device_event_id: str) -> UUID:
    """The same device event is the same reading, however often it is sent."""
    return uuid5(READING_NAMESPACE, f"{device}\x1f{device_event_id}")


def _fail(where: str, what: str) -> Invalid:
    return Invalid(f"{where}: {what}")


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(where, "expected an object.")
    return value


def _text(value: Any, where: str, max_len: int = 200) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise _fail(where, f"expected a non-empty text of at most {max_len} characters.")
    return value


def resource(value: Any, where: str) -> Mapping[str, Any]:
    return _obj(value, where)


def patient_of(resource: Mapping[str, Any], where: str) -> UUID:
    ref = _text(_obj(resource.get("subject"), f"{where}.subject").get("reference"),
                f"{where}.subject.reference")
    kind, _, ident = ref.partition("/")
    try:
        if kind != "Patient":
            raise ValueError
        return UUID(ident)
    except ValueError:
        raise _fail(f"{where}.subject.reference", "expected Patient/<patient id>.") from None


def event_id_of(resource: Mapping[str, Any], where: str) -> str:
    ids = resource.get("identifier")
    if not isinstance(ids, list) or not ids:
        raise _fail(f"{where}.identifier", "the device's event id is required (identifier[0]).")
    return _text(_obj(ids[0], f"{where}.identifier[0]").get("value"),
                 f"{where}.identifier[0].value", 100)


def _instant(value: Any, where: str, now: datetime) -> datetime:
    try:
        when = datetime.fromisoformat(_text(value, where, 40))
    except ValueError:
        raise _fail(where, "expected an instant such as 2026-03-01T08:15:00+01:00.") from None
    if when.tzinfo is None:
        raise _fail(where, "the instant needs a time zone offset.")
    return clinical_time(where, when, now, skew=FUTURE_SKEW)


def _coding(resource: Mapping[str, Any], where: str) -> tuple[str, str]:
    codings = _obj(resource.get("code"), f"{where}.code").get("coding")
    if not isinstance(codings, list) or not codings:
        raise _fail(f"{where}.code.coding", "expected one coding.")
    c = _obj(codings[0], f"{where}.code.coding[0]")
    return (_text(c.get("system"), f"{where}.code.coding[0].system"),
            _text(c.get("code"), f"{where}.code.coding[0].code", 20))


def _quantity(q: codes.Quantity, value: Any, where: str) -> Component:
    v = _obj(value, where)
    if v.get("system") != codes.UCUM:
        raise _fail(f"{where}.system", f"units must be UCUM ({codes.UCUM}).")
    unit = v.get("code")
    if unit != q.ucum:
        raise _fail(f"{where}.code", f"{q.display} is measured in UCUM '{q.ucum}', "
                                     f"not {unit!r}.")
    number = v.get("value")
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise _fail(f"{where}.value", "expected a number.")
    if not q.low <= number <= q.high:
        raise _fail(f"{where}.value", f"{number} {q.ucum} is not a plausible {q.display.lower()} "
                                      f"({q.low:g}-{q.high:g} {q.ucum}).")
    return Component(code=q.code, value=float(number), ucum=q.ucum)


def measurement(resource: Mapping[str, Any], device: str, technology: str, now: datetime,
                where: str = "Observation") -> Measurement:
    system, code = _coding(resource, where)
    measure = codes.MEASURES.get(code) if system == codes.LOINC else None
    if measure is None:
        raise _fail(f"{where}.code", f"{system}|{code} is not a measurement this service takes "
                                     f"(LOINC {', '.join(sorted(codes.MEASURES))}).")
    if resource.get("status") not in ("final", "amended", "preliminary"):
        raise _fail(f"{where}.status", "expected final, amended or preliminary.")
    if measure.panel:
        given = resource.get("component")
        if not isinstance(given, list):
            raise _fail(f"{where}.component", f"{measure.display} needs its components.")
        by_code = {}
        for i, comp in enumerate(given[:10]):
            _, ccode = _coding(_obj(comp, f"{where}.component[{i}]"), f"{where}.component[{i}]")
            by_code[ccode] = (i, comp)
        parts = []
        for q in measure.parts:
            if q.code not in by_code:
                raise _fail(f"{where}.component", f"{q.display} (LOINC {q.code}) is missing.")
            i, comp = by_code[q.code]
            parts.append(_quantity(q, comp.get("valueQuantity"),
                                   f"{where}.component[{i}].valueQuantity"))
    else:
        parts = [_quantity(measure.parts[0], resource.get("valueQuantity"),
                           f"{where}.valueQuantity")]
    ident = event_id_of(resource, where)
    return Measurement(reading_id=reading_id(device, ident), device=device,
                       device_event_id=ident, technology=technology,
                       effective_at=_instant(resource.get("effectiveDateTime"),
                                             f"{where}.effectiveDateTime", now),
                       received_at=now, code=code, components=parts)


def _severity(resource: Mapping[str, Any], default: int, where: str) -> int:
    exts = resource.get("extension") or []
    if not isinstance(exts, list):
        raise _fail(f"{where}.extension", "expected a list.")
    for i, ext in enumerate(exts):
        e = _obj(ext, f"{where}.extension[{i}]")
        if e.get("url") != codes.SEVERITY_EXTENSION:
            continue
        raw = e.get("valueInteger", _obj(e.get("valueCoding", {}), where).get("code"))
        try:
            level = int(raw) if not isinstance(raw, bool) else -1
        except (TypeError, ValueError, OverflowError):   # OverflowError: JSON's Infinity
            level = -1
        if level not in (0, 1, 2, 3):
            raise _fail(f"{where}.extension[{i}]", "severity is 0 (not reported), 1 (green), "
                                                   "2 (yellow) or 3 (red).")
        return level
    return default


def device_event(resource: Mapping[str, Any], device: str, technology: str, now: datetime,
                 where: str = "Flag") -> DeviceEvent:
    system, code = _coding(resource, where)
    known = codes.EVENT_CODES.get((system, code))
    if known is None:
        raise _fail(f"{where}.code", f"{system}|{code} is not a VKP event code this service "
                                     "knows.")
    if resource.get("status") not in ("active", "inactive"):
        raise _fail(f"{where}.status", "expected active or inactive.")
    ident = event_id_of(resource, where)
    start = _obj(resource.get("period"), f"{where}.period").get("start")
    return DeviceEvent(reading_id=reading_id(device, ident), device=device,
                       device_event_id=ident, technology=technology,
                       effective_at=_instant(start, f"{where}.period.start", now),
                       received_at=now, system=system, code=code,
                       severity=_severity(resource, known.default_severity, where))


def read(resource: Any, device: str, technology: str, now: datetime,
         where: str) -> Measurement | DeviceEvent:
    r = _obj(resource, where)
    match r.get("resourceType"):
        case "Observation":
            return measurement(r, device, technology, now, where)
        case "Flag":
            return device_event(r, device, technology, now, where)
    raise _fail(f"{where}.resourceType", "expected Observation or Flag.")


def urgent(resources: Sequence[Any]) -> bool:
    """Whether a request carries a red alarm (a Flag with a red VKP alarm code, or severity 3),
    read from the raw resources before anything else is: back-pressure takes such a request
    in a reserved lane (``http/pressure.py``), so a fall alarm is not told to come back because
    tablets are flooding the service with routine measurements. Never raises: what is not
    well-formed is not urgent here, and is refused when read."""
    return any(_red(r) for r in resources)


def _red(r: Any) -> bool:
    if not isinstance(r, Mapping) or r.get("resourceType") != "Flag":
        return False
    try:
        return _coding(r, "Flag") in codes.RED_ALARMS or _severity(r, 0, "Flag") == 3
    except Invalid:
        return False
