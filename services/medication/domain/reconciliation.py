"""Medication reconciliation (legemiddelsamstemming, LMS) and review (legemiddelgjennomgang,
LMG), DOMAIN.md §2.1 and §11 requirement 34.

A reconciliation records, with the patient, what the patient actually uses, each line with the
source of the information, as the next version of "medicines in use" (LIB); it judges nothing and
does not change the list. Health personnel do it (a prescriber or a nurse). A review is a
prescriber's, of the newest reconciled version (an older one is a conflict), with a summary of its
findings; the changes it leads to are ordinary list changes.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

from pydantic import Field

from libs.kernel.time import Day, local_day
from libs.events.registry import EventPayload
from libs.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from services.medication.domain import Actor, Command, Nurse, Prescriber
from services.medication import contract as ev
from services.medication.domain.checks import (
    author, catalogue_drug, described_drug, find_entry, require_prescriber, text_or_none,
)
from services.medication.domain.decision_support import Catalogue
from services.medication.domain.dosing import DoseIn, to_dose
from services.medication.contract import InformationSource, ReconciledLine
from services.medication.domain.state import MedicationList

Text = Field(default=None, max_length=2000)


# --- commands ----------------------------------------------------------------------------------

class ReconcileLine(Command):
    """A medicine the patient uses: a list entry, a catalogue product or a name."""

    source: InformationSource
    entry_id: UUID | None = None
    product_id: str | None = Field(default=None, max_length=100)
    name: str | None = Field(default=None, max_length=300)
    dose: DoseIn | None = None
    dose_text: str | None = Field(default=None, max_length=500)
    note: str | None = Text


class Reconcile(Command):
    lines: list[ReconcileLine] = Field(default=[], max_length=100)
    note: str | None = Text


class ReviewMedication(Command):
    reconciliation_version: int
    summary: str = Field(max_length=5000)
    next_review_on: Day | None = None


# --- decisions ---------------------------------------------------------------------------------

def _line(lst: MedicationList, n: int, x: ReconcileLine, catalogue: Catalogue) -> ReconciledLine:
    entry = find_entry(lst, x.entry_id) if x.entry_id is not None else None
    if x.product_id:
        drug = catalogue_drug(catalogue, x.product_id, allow_expired=True)
    elif entry is not None:
        drug = entry.drug
    elif name := text_or_none(x.name):
        drug = described_drug(name=name)
    else:
        raise Invalid(f"lines[{n}]: name the medicine (a list entry, a product or a name).")
    dose = to_dose(x.dose, f"lines[{n}].dose") if x.dose is not None else None
    if dose is None and entry is not None and not x.dose_text:
        dose = entry.dose
    return ReconciledLine(drug=drug, dose=dose, dose_text=text_or_none(x.dose_text),
                          source=x.source, entry_id=x.entry_id, note=text_or_none(x.note))


def reconcile(lst: MedicationList, c: Reconcile, by: Actor, now: datetime, *,
              catalogue: Catalogue) -> list[EventPayload]:
    """Legemiddelsamstemming: what the patient actually uses, each line with its source, as the
    next version of "medicines in use". It does not change the list."""
    if not isinstance(by, Prescriber | Nurse):
        raise Forbidden("Medication reconciliation is done by health personnel.")
    who = author(by)
    lines = tuple(_line(lst, n, x, catalogue) for n, x in enumerate(c.lines))
    version = len(lst.reconciliations) + 1
    return [ev.MedicationReconciled(reconciliation_id=uuid4(), version=version, lines=lines,
                                    note=text_or_none(c.note), by=who, recorded_at=now)]


def review(lst: MedicationList, c: ReviewMedication, by: Actor,
           now: datetime) -> list[EventPayload]:
    """Legemiddelgjennomgang of the newest reconciled list; changes it leads to are ordinary
    list changes."""
    who = require_prescriber(by, "reviews the medication")
    found = next((r for r in lst.reconciliations if r.version == c.reconciliation_version), None)
    if found is None:
        raise NotFound(f"No reconciled list version {c.reconciliation_version} for this "
                        "patient.")
    latest = lst.reconciliations[-1]
    if found.version != latest.version:
        raise Conflict(f"Reconciled list version {found.version} is superseded by version "
                       f"{latest.version}: review the newest.")
    if not (summary := c.summary.strip()):
        raise Invalid("A medication review needs a summary of its findings.")
    if c.next_review_on is not None and c.next_review_on < local_day(now):
        raise Invalid("next_review_on is in the past.")
    return [ev.MedicationReviewed(review_id=uuid4(), reconciliation_id=found.reconciliation_id,
                                  reconciliation_version=found.version, summary=summary,
                                  next_review_on=c.next_review_on, by=who, recorded_at=now)]
