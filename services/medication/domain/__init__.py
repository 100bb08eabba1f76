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

Refusals are the kinds of ``libs.kernel.errors`` (``Forbidden``, ``NotFound``, ``Conflict``,
``Invalid``); going ahead against an "avoid" warning without a reason is ``Invalid`` carrying the
warnings as its ``details``, so the answer can show them.
"""

from __future__ import annotations

from typing import Literal

from libs.kernel.model import Frozen


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
