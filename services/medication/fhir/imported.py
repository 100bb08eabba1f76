"""A MedicationStatement imported from another system's record (``domain/imported.py``): the R4
resource sent to ``POST /fhir/MedicationStatement`` into ``RecordImported``, and the statement
as it reads back.

In (read with the fhir.resources R4B models, then element by element; 422 naming the element,
never echoing its value):
- ``identifier``: exactly one, system and value: the source's identifier of the record (it makes
  the import idempotent); ``derivedFrom``: at most one logical reference (``type`` +
  ``identifier``) to the source's MedicationRequest or MedicationStatement;
- ``status``: active, stopped or completed; ``subject``: Patient/<id>;
- ``medicationCodeableConcept``: 1 to 10 codings of RxNorm, ATC or SNOMED CT, kept as given
  (a FEST product is recorded with ``POST …/medication-list/other-sources`` instead, where it is
  checked), ``text`` the name;
- ``effectivePeriod`` (dates) or ``effectiveDateTime``, ``dateAsserted``;
- ``dosage``: at most one, ``text`` and ``asNeededBoolean`` (the source's dose as text: it is
  not a dose of ours, and no dose is planned or charted from it).

Out: status as the source said; ``note`` says in Norwegian where it came from, that it was not
checked against FEST and no decision support was run on it, and, when active, that it must be
reconciled; ``informationSource`` is who imported it, ``dateAsserted`` when the source recorded it
(else when it was imported).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from fhir.resources.R4B.medicationstatement import MedicationStatement
from pydantic import ValidationError

from libs.kernel.errors import Invalid
from libs.kernel.time import RANGE_TEXT, in_range_day, in_range_instant
from libs.web.errors import describe_error
from libs.web.fhir.elements import instant
from services.medication.domain.imported import ATC_SYSTEM, RecordImported
from services.medication.domain.state import ImportedStatement, MedicationList
from services.medication.fhir.from_fhir import parsed, subject_of
from services.medication.fhir.elements import (
    FEST_ALSO, FEST_MERKEVARE, Resource, drop_none, ref, who,
)

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
CODE_SYSTEMS = (RXNORM, ATC_SYSTEM, SNOMED)
STATUSES = ("active", "stopped", "completed")
SOURCE_TYPES = ("MedicationRequest", "MedicationStatement")

_TOP = {"resourceType", "id", "meta", "text", "language", "informationSource", "identifier",
        "derivedFrom", "status", "subject", "medicationCodeableConcept", "effectivePeriod",
        "effectiveDateTime", "dateAsserted", "dosage"}
_DOSAGE = {"text", "asNeededBoolean", "sequence"}


def _problem(where: str, text: str) -> Invalid:
    return Invalid(f"MedicationStatement.{where}: {text}")


def parsed_statement(body: dict) -> dict[str, Any]:
    """The body as an R4 MedicationStatement, as JSON again with the R4 types."""
    return parsed(body, MedicationStatement)


def statement_subject(sent: dict[str, Any]) -> UUID:
    return subject_of(sent, "MedicationStatement")


def _identifier(sent: dict) -> tuple[str, str]:
    found = sent.get("identifier") or []
    if len(found) != 1 or not found[0].get("system") or not found[0].get("value"):
        raise _problem("identifier", "exactly one, with system and value: the source's "
                                     "identifier of the record imported.")
    return found[0]["system"], found[0]["value"]


def _source_type(sent: dict, identifier: tuple[str, str]) -> str:
    derived = sent.get("derivedFrom") or []
    if not derived:
        return "MedicationStatement"
    kind = derived[0].get("type")
    ident = derived[0].get("identifier") or {}
    if len(derived) > 1 or kind not in SOURCE_TYPES or derived[0].get("reference") \
            or (ident.get("system"), ident.get("value")) != identifier:
        raise _problem("derivedFrom", "at most one logical reference: type MedicationRequest "
                                      "or MedicationStatement and the identifier sent.")
    return kind


def _codings(concept: dict | None) -> tuple[list[dict], str | None]:
    codings = (concept or {}).get("coding") or []
    if not codings:
        raise _problem("medicationCodeableConcept", "give at least one coding (RxNorm, ATC or "
                                                    "SNOMED CT).")
    if len(codings) > 10:
        raise _problem("medicationCodeableConcept.coding", "at most 10 codings.")
    kept = []
    for k in codings:
        system = k.get("system")
        if system in (FEST_MERKEVARE, *FEST_ALSO):
            raise _problem("medicationCodeableConcept", "a FEST product is recorded with POST "
                           "/patients/{id}/medication-list/other-sources, where it is checked.")
        if system not in CODE_SYSTEMS or not k.get("code"):
            raise _problem("medicationCodeableConcept.coding", "each coding needs a code of "
                           f"one of {', '.join(CODE_SYSTEMS)}.")
        kept.append({"system": system, "code": k["code"], "display": k.get("display")})
    return kept, (concept or {}).get("text")


def _day(value: str | None, where: str) -> date | None:
    if value is None:
        return None
    try:
        day = date.fromisoformat(value[:10])
    except ValueError:
        raise _problem(where, "a date (YYYY-MM-DD).") from None
    try:
        return in_range_day(day)
    except ValueError:
        raise _problem(where, f"a date {RANGE_TEXT}.") from None


def _instant(value: str | None, where: str) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise _problem(where, "a date and time with its offset.") from None
    try:
        if at.tzinfo is None:
            raise ValueError
        return in_range_instant(at)
    except ValueError:
        raise _problem(where, f"a date and time with its offset, {RANGE_TEXT}.") from None


def import_command(sent: dict[str, Any]) -> RecordImported:
    """The statement as the domain's ``RecordImported``; ``sent`` is what
    ``parsed_statement`` returned."""
    for key in sent:
        if key not in _TOP:
            raise _problem(key, "it is not supported in an imported statement.")
    if sent.get("status") not in STATUSES:
        raise _problem("status", f"an imported statement is one of {', '.join(STATUSES)}.")
    identifier = _identifier(sent)
    codings, text = _codings(sent.get("medicationCodeableConcept"))
    period = sent.get("effectivePeriod") or {}
    start = _day(period.get("start") or sent.get("effectiveDateTime"),
                 "effectivePeriod.start" if period else "effectiveDateTime")
    dosages = sent.get("dosage") or []
    if len(dosages) > 1:
        raise _problem("dosage", "at most one (its text).")
    dosage = dosages[0] if dosages else {}
    for key in dosage:
        if key not in _DOSAGE:
            raise _problem(f"dosage[0].{key}", "an imported dose is kept as text: send "
                                               "dosage.text (and asNeededBoolean).")
    try:
        return RecordImported(
            source_system=identifier[0], source_id=identifier[1],
            source_type=_source_type(sent, identifier), status=sent["status"], codings=codings,
            name=text, asserted_at=_instant(sent.get("dateAsserted"), "dateAsserted"),
            start_on=start, end_on=_day(period.get("end"), "effectivePeriod.end"),
            dosage_text=dosage.get("text"), as_needed=dosage.get("asNeededBoolean"))
    except ValidationError as exc:
        raise Invalid("; ".join(describe_error(e | {"loc": ("MedicationStatement",
                                                             *e.get("loc", ()))})
                                for e in exc.errors())) from None


# --- out ---------------------------------------------------------------------------------------

def _note(s: ImportedStatement) -> str:
    told = (f"Importert fra et annet system ({s.source_type} {s.source_system}|{s.source_id}); "
            "ikke kontrollert mot FEST, ingen beslutningsstøtte.")
    if s.status == "active":
        told += " Må avstemmes (legemiddelsamstemming) før bruk."
    return told


def imported_statement(lst: MedicationList, s: ImportedStatement) -> Resource:
    period = drop_none({"start": s.start_on.isoformat() if s.start_on else None,
                        "end": s.end_on.isoformat() if s.end_on else None})
    identifier = {"system": s.source_system, "value": s.source_id}
    dosage = drop_none({"text": s.dosage_text, "asNeededBoolean": s.as_needed})
    return drop_none({
        "resourceType": "MedicationStatement", "id": str(s.statement_id),
        "identifier": [identifier],
        "status": s.status,
        "medicationCodeableConcept": {"coding": [drop_none(k.model_dump()) for k in s.codings],
                                      "text": s.name},
        "subject": ref("Patient", lst.patient_id),
        "effectivePeriod": period or None,
        "dateAsserted": instant(s.asserted_at or s.recorded_at),
        "informationSource": who(s.by),
        "derivedFrom": [{"type": s.source_type, "identifier": identifier}],
        "note": [{"text": _note(s)}],
        "dosage": [dosage] if dosage else None,
    })
