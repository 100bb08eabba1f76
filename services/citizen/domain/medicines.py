"""Doses and changes of the medication list in words a patient reads (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CHANGES = {   # the medication event's type -> (bokmål, English)
    "medication.MedicationPrescribed": ("Forskrevet", "Prescribed"),
    "medication.MedicationRecordedFromOtherSource": ("Registrert fra annen kilde",
                                                     "Recorded from another source"),
    "medication.PrescriptionRenewed": ("Resept fornyet", "Prescription renewed"),
    "medication.DoseChanged": ("Dose endret", "Dose changed"),
    "medication.MedicationPaused": ("Pause", "Paused"),
    "medication.MedicationResumed": ("Gjenopptatt", "Resumed"),
    "medication.MedicationDiscontinued": ("Seponert", "Discontinued"),
}


def _amount(x: float) -> str:
    return f"{x:g}".replace(".", ",")


def dose_text(dose: Mapping[str, Any], lang: str = "nb") -> str:
    """``2 tablett kl. 08:00, 20:00``; ``1 tablett 2 ganger daglig``; ``ved behov``."""
    text = f"{_amount(dose['amount'])} {dose['unit']}"
    times = [str(t)[:5] for t in dose.get("times_of_day") or ()]
    if times:
        text += (" at " if lang == "en" else " kl. ") + ", ".join(times)
    elif dose.get("times_per_day"):
        n = dose["times_per_day"]
        text += f" {n} times a day" if lang == "en" else f" {n} ganger daglig"
    if dose.get("as_needed"):
        text += " as needed" if lang == "en" else " ved behov"
    return text


def change_label(event_type: str, lang: str = "nb") -> str:
    nb, en = CHANGES.get(event_type, (event_type, event_type))
    return en if lang == "en" else nb
