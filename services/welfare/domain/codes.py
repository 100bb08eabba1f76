"""The codes a device may send (DOMAIN.md §8), with units and plausible ranges.

Measurements are the VkpObservation profiles' LOINC codes, each with its one UCUM unit and the
range a living person's value can lie in (a value outside is a device or typing fault, refused,
not an alarm). Events and alarms are VKP codes in three systems: the medicine dispenser's events
(1 dispensed, 1.1 unassisted, 1.2 assisted, 2 travel pre-dispense), alerts (3.x dispenser and
technical alerts, 4.x the person's alarms) and home monitoring's "measurement reported" (1.1)
and "measurement missing" (2.2). The same number means different things in different systems,
so a code is always read with its system.
"""

from __future__ import annotations

from dataclasses import dataclass

UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
ALERT_SYSTEM = "http://ehelse.no/fhir/CodeSystem/vkp-alert-code-v090"
DISPENSE_SYSTEM = "http://ehelse.no/fhir/CodeSystem/vkp-medicationdispense-events-v090"
DHO_SYSTEM = "http://ehelse.no/fhir/CodeSystem/vkp-dho-measurement-status"
SEVERITY_EXTENSION = "http://ehelse.no/fhir/StructureDefinition/vkp-severity-level-v090"
DEVICE_EXTENSION = "http://ehelse.no/fhir/StructureDefinition/vkp-deviceReference-v090"


@dataclass(frozen=True)
class Quantity:
    code: str
    display: str
    ucum: str
    low: float
    high: float


@dataclass(frozen=True)
class Measure:
    """An observation: either one value (``value``) or a panel of components."""

    code: str
    display: str
    parts: tuple[Quantity, ...]
    panel: bool = False


def _single(code: str, display: str, ucum: str, low: float, high: float) -> Measure:
    return Measure(code, display, (Quantity(code, display, ucum, low, high),))


SYSTOLIC = Quantity("8480-6", "Systolic blood pressure", "mm[Hg]", 40, 300)
DIASTOLIC = Quantity("8462-4", "Diastolic blood pressure", "mm[Hg]", 20, 200)
SPO2 = "59408-5"
MEASURES: dict[str, Measure] = {m.code: m for m in (
    Measure("85354-9", "Blood pressure panel", (SYSTOLIC, DIASTOLIC), panel=True),
    _single("29463-7", "Body weight", "kg", 1, 400),
    _single("8310-5", "Body temperature", "Cel", 25, 45),
    _single("8867-4", "Heart rate", "/min", 20, 300),
    _single(SPO2, "Oxygen saturation by pulse oximetry", "%", 50, 100),
    _single("9279-1", "Respiratory rate", "/min", 3, 80),
    _single("88330-6", "NEWS2 total score", "{score}", 0, 20),
)}


@dataclass(frozen=True)
class Code:
    system: str
    code: str
    display: str
    default_severity: int


def _codes(system: str, *rows: tuple[str, str, int]) -> dict[tuple[str, str], Code]:
    return {(system, c): Code(system, c, d, s) for c, d, s in rows}


EVENT_CODES: dict[tuple[str, str], Code] = {
    **_codes(DISPENSE_SYSTEM,
             ("1", "Medisin utlevert", 1), ("1.1", "Medisin utlevert uassistert", 1),
             ("1.2", "Medisin utlevert assistert", 1), ("2", "Medisin utlevert reise", 1)),
    **_codes(ALERT_SYSTEM,
             ("3.3", "Mangler utleveringsbekreftelse", 2), ("3.4", "Teknisk feil", 2),
             ("3.6", "Tomt for medisin", 2), ("3.7", "Ikke utlevert, tomt for medisin", 2),
             ("3.9", "Ikke tilkoblet strøm", 2), ("3.10", "Ingen kontakt", 2),
             ("3.12", "Innbrudd", 3), ("3.17", "Batteri tomt", 2),
             ("3.25", "Påfyll nødvendig", 1),
             ("4.1", "Fall", 3), ("4.2", "Forlatt sengen", 2), ("4.8", "Aktivitet rom", 1),
             ("4.9", "Inaktivitet", 2), ("4.11", "Brannalarm", 3), ("4.13", "Knappetrykk", 3),
             ("4.14", "Snortrekk", 3), ("4.15", "Dør åpnet", 1), ("4.17", "Vannalarm", 2),
             ("4.21", "Forlatt hjemmet", 2), ("4.23", "Langt opphold på bad", 2)),
    **_codes(DHO_SYSTEM,
             ("1.1", "Måling rapportert", 1), ("2.2", "Måling ikke rapportert", 2)),
}

RED_ALARMS = frozenset({(ALERT_SYSTEM, c) for c in ("4.1", "4.11", "4.13", "4.14", "3.12")})
MISSED_DOSE = frozenset({(ALERT_SYSTEM, "3.3"), (ALERT_SYSTEM, "3.7")})
NOT_REPORTED = (DHO_SYSTEM, "2.2")
ACTIVITY = frozenset({(ALERT_SYSTEM, c) for c in ("4.2", "4.8", "4.15", "4.21")})
