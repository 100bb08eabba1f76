"""The ``medication.events`` contract, the one module of this service others may import: the
patient's medication list (PLL) and what happens to each entry on it (DOMAIN.md §2.4, §11
requirements 30-38).

Stream per patient: ``medication-<patient_id>`` (``stream_of``), one list per patient, so a change
is decided against the whole list (interactions, duplicates) under one expected version.

Identities (requirement 30): every entry has an ``entry_id`` (PLL-id) and a ``treatment_id``
(treatmentID), both kept for its life; each prescription (M1) has its own ``prescription_id``
(ReseptID, a new GUID). A renewal or a dose change issues a new prescription that names the one it
replaces (``previous_prescription_id``), so the chain of prescriptions is the head and what it
replaced; the replaced one is recalled (``PrescriptionRecalled``). Discontinuation recalls every
prescription of the entry still active (requirement 32).

Every event says who recorded it (``by``: an ``Author``) and when (``recorded_at``: the moment it
entered the record, which is also what "the list as of an instant" folds by); an administration
or a dispensing also says when it happened. Dates the clinician thinks in (a treatment's start and
end) are calendar dates in Norway; ``Dose.times_of_day`` are Oslo wall-clock times.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from libs.events.registry import EventPayload, event

STREAM_PREFIX = "medication-"

Route = Literal["oral", "sublingual", "buccal", "rectal", "transdermal", "topical", "inhalation",
                "nasal", "ocular", "otic", "vaginal", "subcutaneous", "intramuscular",
                "intravenous", "enteral_tube"]
OtherSource = Literal["hospital_discharge", "over_the_counter", "supplement", "other_prescriber"]
"""Where an entry we did not prescribe comes from: a hospital's discharge summary (epikrise),
bought over the counter (reseptfritt), a dietary supplement (kosttilskudd), or another prescriber
outside the e-prescription chain."""
InformationSource = Literal["patient", "next_of_kin", "medication_list", "hospital_discharge",
                            "gp", "pharmacy", "multidose", "home_care", "other"]
"""Where a reconciliation line's information comes from (LMS: kilde per legemiddel)."""
Outcome = Literal["given", "missed", "refused"]
RecallReason = Literal["renewal", "renewal_with_change", "discontinuation"]
"""Tilbakekallingsårsak in M5: Fornying (code 1), Forny med endring, Seponering (code 2)."""
AuthorKind = Literal["prescriber", "nurse", "device", "pharmacy"]
WarningKind = Literal["interaction", "duplicate", "cave", "max_dose"]
WarningLevel = Literal["avoid", "precautions"]
"""FEST's "bør unngås" and "forholdsregler bør tas"; "ingen tiltak nødvendig" is never shown."""
CheckedAction = Literal["prescribe", "record", "renew", "change_dose", "resume"]

Hpr = Field(pattern=r"^\d{1,9}$", description="HPR number (Helsepersonellregisteret)")
Reason = Field(min_length=1, max_length=2000)
Note = Field(default=None, max_length=2000)


def stream_of(patient_id: UUID) -> str:
    return f"{STREAM_PREFIX}{patient_id}"


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Author(_Value):
    """Who recorded an event: a prescriber or nurse (HPR number, and the unit's organisation
    number), a medicine dispenser (its client id) or a pharmacy (its organisation number)."""

    kind: AuthorKind
    id: str = Field(min_length=1, max_length=100)
    unit: str | None = Field(default=None, pattern=r"^\d{9}$")


class Drug(_Value):
    """What the entry is, as the catalogue (FEST) described it when it was recorded, so the list
    reads the same after the catalogue changes. ``product_id`` is None for something outside the
    catalogue (a supplement, a hospital's product named only in the discharge summary)."""

    product_id: str | None = Field(default=None, min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=300)
    atc: str | None = Field(default=None, pattern=r"^[A-Z](\d{2}([A-Z]([A-Z](\d{2})?)?)?)?$")
    substances: tuple[str, ...] = Field(default=(), max_length=20)


class Dose(_Value):
    """A structured dose: ``amount`` ``unit`` per administration by ``route``, either at fixed
    Oslo ``times_of_day``, ``times_per_day`` (planned at standard times), or ``as_needed`` with a
    ``max_per_day`` (in ``unit``); exactly one of the three."""

    amount: float = Field(gt=0)
    unit: str = Field(min_length=1, max_length=20, description="e.g. mg, tablett, ml, IE")
    route: Route
    times_of_day: tuple[time, ...] = Field(default=(), max_length=24)
    times_per_day: int | None = Field(default=None, ge=1, le=24)
    as_needed: bool = False
    max_per_day: float | None = Field(default=None, gt=0)
    instructions: str | None = Field(default=None, max_length=500)


class MedicationWarning(_Value):
    """One decision-support warning. ``message`` is the Norwegian sentence shown to the
    clinician; ``other_entry_id`` the list entry it concerns (interaction, duplicate),
    ``critical_id`` the CAVE entry in the journal, ``detail`` the catalogue's text."""

    kind: WarningKind
    level: WarningLevel
    message: str = Field(min_length=1, max_length=2000)
    other_entry_id: UUID | None = None
    critical_id: UUID | None = None
    detail: str | None = Field(default=None, max_length=2000)


class ReconciledLine(_Value):
    """One line of "medicines in use" (LIB) with the source of the information; ``entry_id``
    when it matches an entry on the list. The dose is what the patient actually takes."""

    drug: Drug
    dose: Dose | None = None
    dose_text: str | None = Field(default=None, max_length=500)
    source: InformationSource
    entry_id: UUID | None = None
    note: str | None = Note


class NationalPrescription(_Value):
    """One prescription as the prescription intermediary (RF) reported it in a fetch (M9.6):
    its ReseptID, what it is, and its status there."""

    prescription_id: UUID
    drug: Drug
    status: Literal["active", "dispensed", "recalled", "expired"]
    issued_on: date | None = None
    prescriber: str | None = Field(default=None, max_length=300)


class ImportedCoding(_Value):
    """A code of an imported medication as its source gave it (RxNorm, ATC, ...)."""

    system: str = Field(min_length=1, max_length=200)
    code: str = Field(min_length=1, max_length=100)
    display: str | None = Field(default=None, max_length=300)


# --- the list ----------------------------------------------------------------------------------

@event("medication.MedicationListFetched")
class MedicationListFetched(EventPayload):
    """The patient's prescriptions (M9.5/9.6) and medication list (M25) fetched from the
    prescription intermediary (RF), and medication from the summary care record (KJ), e.g.
    through SFM's ``$getMedication``. A change of the list needs one less than 4 hours old
    (requirement 31), so it is not made against an outdated picture."""

    fetched_at: datetime
    sources: tuple[Literal["rf", "kj"], ...] = Field(min_length=1, max_length=2)
    prescriptions: tuple[NationalPrescription, ...] = Field(default=(), max_length=500)
    by: Author
    recorded_at: datetime


@event("medication.MedicationPrescribed")
class MedicationPrescribed(EventPayload):
    """A new treatment on the list with its first prescription (M1 with a new ReseptID)."""

    entry_id: UUID
    treatment_id: UUID
    prescription_id: UUID
    drug: Drug
    dose: Dose
    indication: str | None = Note
    start_on: date
    end_on: date | None = None
    by: Author
    recorded_at: datetime


@event("medication.MedicationRecordedFromOtherSource")
class MedicationRecordedFromOtherSource(EventPayload):
    """Something the patient uses that we did not prescribe, with where it comes from;
    ``prescription_id`` is the other prescriber's ReseptID when there is one."""

    entry_id: UUID
    treatment_id: UUID
    prescription_id: UUID | None = None
    drug: Drug
    dose: Dose
    source: OtherSource
    source_detail: str | None = Note
    indication: str | None = Note
    start_on: date
    end_on: date | None = None
    by: Author
    recorded_at: datetime


@event("medication.MedicationStatementImported")
class MedicationStatementImported(EventPayload):
    """A medication the patient used or uses, imported from another system's record (e.g. a
    Synthea MedicationRequest): kept as the source coded it (RxNorm, ATC, ...), not checked
    against the drug catalogue, no decision support run on it, never sent to the prescription
    intermediary. ``status`` is the source's: ``active`` needs reconciliation before anyone
    relies on it, ``stopped`` and ``completed`` are history. ``source_system``/``source_id``
    (the source's identifier) make an import idempotent."""

    statement_id: UUID
    source_system: str = Field(min_length=1, max_length=200)
    source_id: str = Field(min_length=1, max_length=200)
    source_type: Literal["MedicationRequest", "MedicationStatement"]
    status: Literal["active", "stopped", "completed"]
    codings: tuple[ImportedCoding, ...] = Field(min_length=1, max_length=10)
    name: str = Field(min_length=1, max_length=300)
    atc: str | None = Field(default=None, pattern=r"^[A-Z](\d{2}([A-Z]([A-Z](\d{2})?)?)?)?$")
    asserted_at: datetime | None = None
    start_on: date | None = None
    end_on: date | None = None
    dosage_text: str | None = Field(default=None, max_length=500)
    as_needed: bool | None = None
    by: Author
    recorded_at: datetime


@event("medication.PrescriptionRenewed")
class PrescriptionRenewed(EventPayload):
    """The same treatment, a new prescription (M1, new ReseptID) replacing the previous one."""

    entry_id: UUID
    treatment_id: UUID
    prescription_id: UUID
    previous_prescription_id: UUID
    by: Author
    recorded_at: datetime


@event("medication.DoseChanged")
class DoseChanged(EventPayload):
    """A new dose from ``recorded_at``. An entry with a prescription gets a new one replacing
    the previous (M1 + recall "renew with change"); one without gets none."""

    entry_id: UUID
    dose: Dose
    prescription_id: UUID | None = None
    previous_prescription_id: UUID | None = None
    reason: str | None = Note
    by: Author
    recorded_at: datetime


@event("medication.PrescriptionRecalled")
class PrescriptionRecalled(EventPayload):
    """A prescription withdrawn from the prescription intermediary (M5) and why."""

    entry_id: UUID
    prescription_id: UUID
    reason: RecallReason
    by: Author
    recorded_at: datetime


@event("medication.MedicationPaused")
class MedicationPaused(EventPayload):
    entry_id: UUID
    reason: str = Reason
    by: Author
    recorded_at: datetime


@event("medication.MedicationResumed")
class MedicationResumed(EventPayload):
    entry_id: UUID
    note: str | None = Note
    by: Author
    recorded_at: datetime


@event("medication.MedicationDiscontinued")
class MedicationDiscontinued(EventPayload):
    """Seponert: off the list from ``recorded_at``, with the reason (requirement 32)."""

    entry_id: UUID
    reason: str = Reason
    by: Author
    recorded_at: datetime


@event("medication.WarningsRecorded")
class WarningsRecorded(EventPayload):
    """The decision-support warnings shown for an order or change of ``entry_id``, and the
    reason given for going ahead despite an "avoid" (None when there was none to override)."""

    entry_id: UUID
    action: CheckedAction
    warnings: tuple[MedicationWarning, ...] = Field(min_length=1, max_length=100)
    override_reason: str | None = Note
    by: Author
    recorded_at: datetime


# --- what actually happened (requirement 38) --------------------------------------------------

@event("medication.MedicationDispensed")
class MedicationDispensed(EventPayload):
    """A pharmacy dispensed on a prescription (M10 -> M6)."""

    entry_id: UUID
    prescription_id: UUID
    dispensed_at: datetime
    pharmacy: str | None = Field(default=None, pattern=r"^\d{9}$",
                                 description="the pharmacy's organisation number")
    package: str | None = Field(default=None, max_length=50, description="varenummer")
    quantity: float | None = Field(default=None, gt=0)
    by: Author
    recorded_at: datetime


@event("medication.MedicationAdministered")
class MedicationAdministered(EventPayload):
    """A dose given, missed or refused. ``scheduled_for`` is the planned time it answers (None
    for an as-needed or extra dose); ``amount`` is what was given (in the dose's unit);
    ``device_event_id`` makes a dispenser's report idempotent."""

    administration_id: UUID
    entry_id: UUID
    outcome: Outcome
    scheduled_for: datetime | None = None
    administered_at: datetime
    amount: float | None = Field(default=None, gt=0)
    note: str | None = Note
    device_event_id: str | None = Field(default=None, min_length=1, max_length=100)
    by: Author
    recorded_at: datetime


# --- reconciliation and review (requirement 34) ------------------------------------------------

@event("medication.MedicationReconciled")
class MedicationReconciled(EventPayload):
    """Legemiddelsamstemming: version ``version`` of "medicines in use" (LIB)."""

    reconciliation_id: UUID
    version: int = Field(ge=1)
    lines: tuple[ReconciledLine, ...] = Field(default=(), max_length=100)
    note: str | None = Note
    by: Author
    recorded_at: datetime


@event("medication.MedicationReviewed")
class MedicationReviewed(EventPayload):
    """Legemiddelgjennomgang of the reconciled list ``reconciliation_version``."""

    review_id: UUID
    reconciliation_id: UUID
    reconciliation_version: int = Field(ge=1)
    summary: str = Field(min_length=1, max_length=5000)
    next_review_on: date | None = None
    by: Author
    recorded_at: datetime
