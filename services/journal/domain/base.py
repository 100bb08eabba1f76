"""What every area of the journal's domain shares: the command base, the clinician who acts, the
patient checks and the small field checks. Public names only: the areas import these, never each
other's private helpers."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Protocol

from pydantic import Field

from libs.kernel.errors import Conflict, Invalid, NotFound
from libs.kernel.identifiers import InvalidIdentifier, validate_orgnr
from libs.kernel.model import Frozen

__all__ = ["Clinician", "Command", "Frozen", "optional_text", "orgnr", "require_alive",
           "require_reason", "require_registered", "service_code", "signature"]


class Command(Frozen):
    """A request to change a patient's record; decided by a pure function into events."""


class Clinician(Frozen):
    """The professional documenting: HPR number, unit, physician or not (from the token)."""

    hpr: str
    unit: str = Field(description="organisation number of the unit acting")
    physician: bool = False


class _Registrable(Protocol):
    registered: bool
    deceased_on: date | None


def require_registered(p: _Registrable) -> None:
    if not p.registered:
        raise NotFound("No such patient.")


def require_alive(p: _Registrable) -> None:
    """After death the record takes no changes except correcting the date of death and closing
    open episodes and service decisions."""
    require_registered(p)
    if p.deceased_on is not None:
        raise Conflict(f"The patient died on {p.deceased_on.isoformat()}: the record takes no "
                       "changes except correcting the date of death and closing open episodes "
                       "and service decisions.")


def orgnr(field: str, value: str) -> str:
    """A valid organisation number, or ``Invalid`` naming ``field``."""
    try:
        return validate_orgnr(value)
    except InvalidIdentifier as exc:
        raise Invalid(f"{field}: {exc}") from None


def service_code(code: str, known: Collection[str] | None) -> str:
    """An IPLOS service code (tjenestekode): 1-3 digits, and one of ``known`` when given."""
    if not (code.isdigit() and 1 <= len(code) <= 3) or (known is not None and code not in known):
        raise Invalid(f"service_code {code!r} is not an IPLOS service code (tjenestekode)")
    return code


def signature(by: Clinician) -> dict[str, str]:
    """``{"by": hpr, "unit": orgnr}`` of a clinician, both checked: who signs an entry."""
    if not (by.hpr.isdigit() and 1 <= len(by.hpr) <= 9):
        raise Invalid("An HPR number is 1 to 9 digits.")
    try:
        return {"by": by.hpr, "unit": validate_orgnr(by.unit)}
    except InvalidIdentifier as exc:
        raise Invalid(f"unit: {exc}") from None


def require_reason(text: str | None, what: str) -> str:
    """A required reason, stripped: ``what`` needs one."""
    if not (stripped := (text or "").strip()):
        raise Invalid(f"{what} needs a reason.")
    return stripped


def optional_text(value: str | None) -> str | None:
    """Text, stripped; None when blank."""
    return (value or "").strip() or None
