"""A generated narrative (``text``, status ``generated``) on every resource the FHIR APIs
return, so a person reading a resource in any FHIR viewer sees what it is, and invariant dom-6
("a resource should have narrative") holds.

The narrative is made from the resource's own elements, and every service gets the same: the
type, what it is (a code's display or text, or the code), its status, its date, its value,
and for a Patient the name and birth date. Never a national id: identifiers are left out.
Everything is escaped; the div holds only ``p`` and ``b`` (XHTML, txt-1 and txt-2).

A stored version gets it once, when it is stored (``insert_versions``): a read returns it as
stored instead of making it again (a search page of 50 made 50 at every read, a sixth of the
journal API's CPU per search in ``bench/fhir``). A version stored before then, and a resource
a service builds outside a versions table, get it when read (``narrated``). Being made from
the stored resource's own elements, it says nothing the resource does not; a stored version
keeps the wording of the day it was stored.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

XHTML = "http://www.w3.org/1999/xhtml"
_CODED = ("code", "medicationCodeableConcept", "type", "category", "vaccineCode", "class",
          "description")   # a Goal's description is a CodeableConcept
_DATES = ("effectiveDateTime", "occurrenceDateTime", "performedDateTime", "authoredOn",
          "recordedDate", "onsetDateTime", "dateAsserted", "date", "created", "issued")
_PERIODS = ("period", "effectivePeriod", "performedPeriod")
_DIGITS11 = re.compile(r"\d{11,}")


def _concept(value: Any) -> str | None:
    for c in value if isinstance(value, list) else [value]:
        if not isinstance(c, dict):
            continue
        if c.get("text"):
            return str(c["text"])
        for coding in c.get("coding") or ([c] if "code" in c else []):
            if isinstance(coding, dict) and (coding.get("display") or coding.get("code")):
                return str(coding.get("display") or coding.get("code"))
    return None


def _what(doc: dict) -> str | None:
    if doc.get("resourceType") == "Patient":
        names = [n for n in doc.get("name") or [] if isinstance(n, dict)]
        if names:
            n = names[0]
            return str(n.get("text") or " ".join([*(n.get("given") or []), n.get("family", "")]))
        return None
    if isinstance(doc.get("title"), str):
        return doc["title"]
    return next((found for f in _CODED if (found := _concept(doc.get(f)))), None)


def _when(doc: dict) -> str | None:
    for f in _DATES:
        if isinstance(doc.get(f), str):
            return doc[f]
    for f in _PERIODS:
        period = doc.get(f)
        if isinstance(period, dict) and isinstance(period.get("start"), str):
            end = period.get("end")
            return period["start"] + (f" – {end}" if isinstance(end, str) else "")
    birth = doc.get("birthDate")
    return f"født / born {birth}" if isinstance(birth, str) else None


def _value(doc: dict) -> str | None:
    q = doc.get("valueQuantity")
    if isinstance(q, dict) and "value" in q:
        return f"{q['value']} {q.get('unit') or q.get('code') or ''}".strip()
    for f in ("valueString", "valueBoolean", "valueInteger"):
        if f in doc:
            return str(doc[f])
    return _concept(doc.get("valueCodeableConcept"))


def _status(doc: dict) -> str | None:
    for f in ("status", "lifecycleStatus"):   # a Goal's status is its lifecycleStatus
        if isinstance(doc.get(f), str):
            return doc[f]
    return _concept(doc.get("clinicalStatus"))


def narrative(doc: dict) -> dict:
    """The ``text`` element for ``doc``: one line per thing known, escaped."""
    lines = [f"<b>{escape(str(doc.get('resourceType', 'Resource')))}</b>"]
    for label, value in (("", _what(doc)), ("Status: ", _status(doc)),
                         ("Tid / time: ", _when(doc)), ("Verdi / value: ", _value(doc))):
        if value:
            lines.append(escape(label + _DIGITS11.sub(lambda m: "*" * len(m.group()), value)))
    return {"status": "generated",
            "div": f'<div xmlns="{XHTML}">' + "".join(f"<p>{x}</p>" for x in lines) + "</div>"}


def narrated(doc: dict) -> dict:
    """``doc`` with a generated narrative, unless it has one already."""
    if not isinstance(doc, dict) or "text" in doc or "resourceType" not in doc:
        return doc
    out = {k: v for k, v in doc.items() if k in ("resourceType", "id", "meta", "implicitRules",
                                                  "language")}
    return out | {"text": narrative(doc)} | {k: v for k, v in doc.items() if k not in out}
