"""The medication service's pure domain: the patient's medication list (PLL), its prescriptions,
dispensings and administrations, reconciliation and review, and decision support. No I/O and no
FastAPI, SQLAlchemy or Kafka imports (DESIGN.md §7, DOMAIN.md §2, §11 requirements 30-38).

Glossary: the patient's medication list = pasientens legemiddelliste (PLL); list entry id =
PLL-id; prescription = resept (its id is the ReseptID GUID); treatment = legemiddelbehandling;
prescribing rights = forskrivningsrett; discontinue = seponere; recall = tilbakekalle;
renewal = fornying; dispensing = utlevering (pharmacy, M10/M6); administration = utdeling /
administrering; medicine dispenser = medisindispenser; medication reconciliation =
legemiddelsamstemming (LMS), whose result is "medicines in use" = legemidler i bruk (LIB);
medication review = legemiddelgjennomgang (LMG); critical information = CAVE / kritisk
informasjon; as needed = ved behov.

Who acts is the API layer's to establish (token, HPR record); the domain takes it as a value:
``Prescriber`` (health personnel whose HPR record gives prescribing rights: the only ones who
change the list, requirement 33), ``Nurse`` (other health personnel: records administration and
takes part in reconciliation), ``Dispenser`` (a medicine dispenser device: records
administration) and ``Pharmacy`` (reports dispensing).

``Refused`` has the same shape as the journal's (status, message) but is defined here, so the
services stay independent; it may also carry the decision-support ``warnings`` that made an order
need a stated reason, so the API can show them with the 422.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from services.medication.domain.events import MedicationWarning


class Refused(Exception):
    """A command the domain will not accept: ``status`` is the HTTP status a client should see
    (403 not this actor's to do, e.g. a nurse changing the list; 404 unknown id; 409 conflict
    with the current state, e.g. resuming a discontinued medication; 422 invalid input, e.g. a
    zero dose or going ahead against an "avoid" warning without a reason), ``message`` one
    readable sentence that never contains a national id number."""

    def __init__(self, status: int, message: str,
                 warnings: Sequence[MedicationWarning] = ()):
        self.status, self.message, self.warnings = status, message, tuple(warnings)
        super().__init__(message)


def forbidden(message: str) -> Refused:
    return Refused(403, message)


def not_found(message: str) -> Refused:
    return Refused(404, message)


def conflict(message: str) -> Refused:
    return Refused(409, message)


def invalid(message: str, warnings: Sequence[Any] = ()) -> Refused:
    return Refused(422, message, warnings)


class Frozen(BaseModel):
    """An immutable value: state, value objects, results."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Command(Frozen):
    """A request to change a patient's medication list; decided by a pure function into events."""


# --- who acts ----------------------------------------------------------------------------------

class Prescriber(Frozen):
    """Health personnel with prescribing rights (forskrivningsrett) acting for ``unit``."""

    kind: Literal["prescriber"] = "prescriber"
    hpr: str
    unit: str


class Nurse(Frozen):
    """Health personnel without prescribing rights (nurse, care worker) acting for ``unit``."""

    kind: Literal["nurse"] = "nurse"
    hpr: str
    unit: str


class Dispenser(Frozen):
    """A medicine dispenser (welfare technology) with its own client id."""

    kind: Literal["device"] = "device"
    client_id: str


class Pharmacy(Frozen):
    """A pharmacy reporting a dispensing (M10 -> M6), by organisation number."""

    kind: Literal["pharmacy"] = "pharmacy"
    orgnr: str


Actor = Prescriber | Nurse | Dispenser | Pharmacy
