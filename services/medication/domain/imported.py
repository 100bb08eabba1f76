"""A medication from another system's record, imported onto the patient's list as a statement
(``MedicationStatementImported``; README, "the medication service", imports).

What it is, and what it is not (DOMAIN.md §2.1): the list (PLL) is "the medicines the patient
uses, as agreed between doctor and patient". A medication another system recorded, coded in its
terminology (Synthea's RxNorm, not FEST), is a fact about the patient's history, not an order of
ours: it is never sent to the prescription intermediary, not checked against the drug catalogue,
and decision support is not run on it (no warning is claimed for it). It is kept with every
coding the source gave. An ``active`` one is what the source says the patient uses: it needs
reconciliation (legemiddelsamstemming) before anyone relies on it; ``stopped`` and
``completed`` are history.

Who: health personnel (a prescriber or a nurse, as for a reconciliation), not a device. The
same source identifier imported again changes nothing (``record_imported`` returns no events).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import NAMESPACE_URL, UUID, uuid5

from pydantic import Field

from libs.events.registry import EventPayload
from libs.kernel.errors import Forbidden, Invalid
from services.medication import contract as ev
from services.medication.contract import ImportedCoding
from services.medication.domain import Actor, Command, Nurse, Prescriber
from services.medication.domain.checks import author, text_or_none
from services.medication.domain.state import MedicationList

ATC_SYSTEM = "http://www.whocc.no/atc"


class RecordImported(Command):
    source_system: str = Field(min_length=1, max_length=200,
                               description="the identifier system of the source's record")
    source_id: str = Field(min_length=1, max_length=200,
                           description="the source's identifier of the record")
    source_type: Literal["MedicationRequest", "MedicationStatement"] = "MedicationStatement"
    status: Literal["active", "stopped", "completed"]
    codings: list[ImportedCoding] = Field(min_length=1, max_length=10)
    name: str | None = Field(default=None, max_length=300)
    asserted_at: datetime | None = None
    start_on: date | None = None
    end_on: date | None = None
    dosage_text: str | None = Field(default=None, max_length=500)
    as_needed: bool | None = None


def statement_id(patient_id: UUID, system: str, value: str) -> UUID:
    """The statement's id, derived from the patient and the source's identifier: an import
    repeated, or two importers at once, name the same statement."""
    return uuid5(NAMESPACE_URL, f"medication-import:{patient_id}:{system}|{value}")


def record_imported(lst: MedicationList, c: RecordImported, by: Actor,
                    now: datetime) -> list[EventPayload]:
    """The statement, or nothing when this source record is already on the list."""
    if not isinstance(by, Prescriber | Nurse):
        raise Forbidden("A medication from another system is imported by health personnel.")
    who = author(by)
    if not (c.source_system.strip() and c.source_id.strip()):
        raise Invalid("The source's identifier needs a system and a value.")
    sid = statement_id(lst.patient_id, c.source_system.strip(), c.source_id.strip())
    if lst.imported_statement(sid) is not None:
        return []
    name = text_or_none(c.name) or next(
        (k.display for k in c.codings if k.display and k.display.strip()), None)
    if name is None:
        raise Invalid("Name the medication: a text or a coding with a display.")
    if c.start_on and c.end_on and c.end_on < c.start_on:
        raise Invalid("The medication ends before it starts.")
    if c.asserted_at is not None and c.asserted_at > now:
        raise Invalid("A medication cannot be recorded in the future.")
    if c.start_on is not None and c.start_on > now.date():
        raise Invalid("An imported medication is history: it cannot start in the future.")
    atcs = [k.code for k in c.codings if k.system == ATC_SYSTEM]
    try:
        return [ev.MedicationStatementImported(
            statement_id=sid, source_system=c.source_system.strip(),
            source_id=c.source_id.strip(), source_type=c.source_type, status=c.status,
            codings=tuple(c.codings), name=name.strip()[:300],
            atc=atcs[0].upper() if atcs else None, asserted_at=c.asserted_at,
            start_on=c.start_on, end_on=c.end_on, dosage_text=text_or_none(c.dosage_text),
            as_needed=c.as_needed, by=who, recorded_at=now)]
    except ValueError:
        raise Invalid(f"{atcs[0]!r} is not an ATC code.") from None
