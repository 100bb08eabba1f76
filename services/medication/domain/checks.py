"""Checks shared by the decisions: who acts (``author``, ``require_prescriber``), finding an
entry, reasons and texts, the catalogue's description of a product, and a treatment's period.
Each raises a ``libs.kernel.errors`` kind with a readable sentence."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import UUID

from pydantic import ValidationError

from libs.kernel.identifiers import InvalidIdentifier, validate_orgnr
from libs.kernel.time import local_day
from libs.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from services.medication.domain import Actor, Dispenser, Nurse, Pharmacy, Prescriber
from services.medication.domain.decision_support import Catalogue
from services.medication.contract import Author, Drug
from services.medication.domain.state import Entry, MedicationList, clock


def author(by: Actor) -> Author:
    """The actor as events name it; ``Invalid`` for a malformed HPR or organisation number."""
    match by:
        case Prescriber() | Nurse():
            if not (by.hpr.isdigit() and 1 <= len(by.hpr) <= 9):
                raise Invalid("An HPR number is 1 to 9 digits.")
            return Author(kind=by.kind, id=by.hpr, unit=orgnr(by.unit, "unit"))
        case Dispenser():
            if not 1 <= len(by.client_id.strip()) <= 100:
                raise Invalid("A dispenser is named by its client id.")
            return Author(kind="device", id=by.client_id.strip())
        case Pharmacy():
            return Author(kind="pharmacy", id=orgnr(by.orgnr, "pharmacy"))
    raise Forbidden("Unknown actor.")


def orgnr(value: str, what: str) -> str:
    try:
        return validate_orgnr(value)
    except InvalidIdentifier as exc:
        raise Invalid(f"{what}: {exc}") from None


def require_prescriber(by: Actor, doing: str = "changes the medication list") -> Author:
    if not isinstance(by, Prescriber):
        raise Forbidden(f"Only a prescriber {doing}.")
    return author(by)


def find_entry(lst: MedicationList, entry_id: UUID) -> Entry:
    if (e := lst.entry(entry_id)) is None:
        raise NotFound("No such medication on this patient's list.")
    return e


def required_reason(reason: str | None, what: str) -> str:
    if not (stripped := (reason or "").strip()):
        raise Invalid(f"{what} needs a reason.")
    return stripped


def text_or_none(value: str | None) -> str | None:
    return (value or "").strip() or None


def require_not_discontinued(e: Entry, doing: str) -> None:
    if e.status == "discontinued":
        raise Conflict(f"{e.drug.name} was discontinued on {local_day(e.status_since)}: a "
                       f"discontinued medication is not {doing}; prescribe it again instead.")


def catalogue_drug(catalogue: Catalogue, product_id: str, *, allow_expired: bool = False) -> Drug:
    product = catalogue.product(product_id.strip())
    if product is None:
        raise Invalid(f"Unknown product {product_id!r}: it is not in the drug catalogue.")
    if product.expired and not allow_expired:
        raise Invalid(f"{product.name} is no longer in the drug catalogue (expired): choose a "
                      "current product.")
    return described_drug(product_id=product.product_id, name=product.name, atc=product.atc,
                          substances=tuple(product.substances))


def described_drug(**fields) -> Drug:
    try:
        return Drug(**fields)
    except ValidationError as exc:
        where = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
        raise Invalid(f"The medicine is not described correctly ({where}): give a name, and an "
                      "ATC code such as N02BE01 when known.") from None


def treatment_period(start_on: date | None, end_on: date | None, now: datetime, *,
                     past_start: bool) -> tuple[date, date | None]:
    start = start_on or local_day(now)
    if not past_start and start < local_day(now):
        raise Invalid("start_on is in the past: a prescription starts today or later.")
    if end_on is not None and end_on < start:
        raise Invalid("end_on is before start_on.")
    return start, end_on


def require_fresh(lst: MedicationList, now: datetime, within: timedelta | None) -> None:
    """Requirement 31: a change of the list needs the patient's prescriptions fetched from the
    prescription intermediary (RF) less than ``within`` ago (None: not required here)."""
    if within is None:
        return
    hours = f"{within.total_seconds() / 3600:g}"
    if lst.fetched is None:
        raise Conflict("The patient's prescriptions have not been fetched from the prescription "
                       f"intermediary (RF): fetch them (less than {hours} hours before a change) "
                       "and change the list against what they show.")
    if now - lst.fetched.fetched_at >= within:
        raise Conflict("The patient's prescriptions were last fetched from the prescription "
                       f"intermediary (RF) at {clock(lst.fetched.fetched_at)}, more than {hours} "
                       "hours ago: fetch them again before changing the list.")
