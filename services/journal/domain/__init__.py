"""The journal service's pure domain: patients, episodes of care, IPLOS assessments, service
decisions, and the clinical record (notes, observations, conditions, critical information). No I/O and no FastAPI, SQLAlchemy or Kafka imports (DESIGN.md §7).

Glossary: service decision = vedtak; functional assessment = IPLOS-kartlegging (funksjonsvurdering);
service code = tjenestekode; regular GP = fastlege; municipality number = kommunenummer; city
district number = bydelsnummer; scope of a service = omfang; allocation office = tildelingskontor.

``Refused`` has the same shape as the consent service's (status, message) but is defined here, so
the services stay independent; an API layer maps either to an OperationOutcome with that status.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

from pydantic import BaseModel, ConfigDict


class Refused(Exception):
    """A command the domain will not accept: ``status`` is the HTTP status a client should see
    (403 not this person's to do, e.g. signing someone else's note; 404 unknown id; 409 conflict
    with the current state; 422 invalid input), ``message`` one
    readable sentence that never contains a national id number."""

    def __init__(self, status: int, message: str):
        self.status, self.message = status, message
        super().__init__(message)


def conflict(message: str) -> Refused:
    return Refused(409, message)


def invalid(message: str) -> Refused:
    return Refused(422, message)


def not_found(message: str) -> Refused:
    return Refused(404, message)


class _Registrable(Protocol):
    registered: bool
    deceased_on: date | None


def require_registered(p: _Registrable) -> None:
    if not p.registered:
        raise not_found("No such patient.")


def require_alive(p: _Registrable) -> None:
    """After death the record takes no changes except correcting the date of death and closing
    open episodes and service decisions."""
    require_registered(p)
    if p.deceased_on is not None:
        raise conflict(f"The patient died on {p.deceased_on.isoformat()}: the record takes no "
                       "changes except correcting the date of death and closing open episodes "
                       "and service decisions.")


class Frozen(BaseModel):
    """An immutable value: state, value objects, results."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Command(Frozen):
    """A request to change a patient's record; decided by a pure function into events."""
