"""The codes, Norwegian texts and data types the medication resources share: the drug as a
``CodeableConcept``, the dose as ``Dosage``, people and organisations as references."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from libs.kernel.identifiers import IdentifierSystem
from libs.web.fhir.elements import coding, org
from services.medication.contract import Author, Dose, Drug
from services.medication.domain.dosing import describe
from services.medication.domain.state import Change, Entry, MedicationList

RESOURCE_TYPES = ("MedicationStatement", "MedicationRequest", "MedicationAdministration", "List")

ATC = "http://www.whocc.no/atc"
FEST_MERKEVARE = "http://legemiddelverket.no/FEST/LegemiddelMerkevareID"
"""The FEST product id as a code system (README, "FHIR"): the URI the Nordic ePI guide and the
FEST-coded value sets use, not DMP's NamingSystem page (§2.5 [F11]), which names it and is
still taken in an order (``FEST_ALSO``)."""
FEST_ALSO = ("http://dmp.no/fhir/NamingSystem/festLegemiddelMerkevare",)
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"

# Norwegian (bokmål) text shown to clinicians, in one place.
LIST_TITLE = "Pasientens legemiddelliste"
SOURCE_NO = {"hospital_discharge": "epikrise fra sykehus", "over_the_counter": "reseptfritt",
             "supplement": "kosttilskudd", "other_prescriber": "annen forskriver"}
RECALL_NO = {"renewal": "Tilbakekalt ved fornying",
             "renewal_with_change": "Tilbakekalt ved fornying med endring",
             "discontinuation": "Tilbakekalt ved seponering"}
NOT_DONE_NO = {"missed": "Ikke gitt", "refused": "Pasienten nektet"}
ROUTE_NO = {"oral": "oral", "sublingual": "sublingual", "buccal": "bukkal", "rectal": "rektal",
            "transdermal": "transdermal", "topical": "kutan", "inhalation": "inhalasjon",
            "nasal": "nasal", "ocular": "okulær", "otic": "i øret", "vaginal": "vaginal",
            "subcutaneous": "subkutan", "intramuscular": "intramuskulær",
            "intravenous": "intravenøs", "enteral_tube": "enteral sonde"}

STATEMENT_STATUS = {"active": "active", "paused": "on-hold", "discontinued": "stopped"}
ISSUING = frozenset({"prescribed", "recorded", "renewed", "dose_changed"})
LIST_CHANGES = ISSUING | {"recalled", "paused", "resumed", "discontinued"}

Resource = dict[str, Any]


# --- small pieces ------------------------------------------------------------------------------

def drop_none(res: Resource) -> Resource:
    return {k: v for k, v in res.items() if v is not None and v != [] and v != {}}


def ref(kind: str, id_: UUID) -> dict:
    return {"reference": f"{kind}/{id_}"}


def who(a: Author) -> dict:
    """A prescriber or nurse by HPR number, a pharmacy by organisation number, a medicine
    dispenser (no identifier system for its client id) by display."""
    if a.kind == "pharmacy":
        return org(a.id)
    if a.kind == "device":
        return {"type": "Device", "display": f"Medisindispenser {a.id}"}
    return {"type": "Practitioner", "identifier": {"system": IdentifierSystem.HPR, "value": a.id}}


def medication(drug: Drug) -> dict:
    """The FEST id when it is a catalogue product, the ATC code when known, the name."""
    codings = []
    if drug.product_id:
        codings.append(coding(FEST_MERKEVARE, drug.product_id, drug.name))
    if drug.atc:
        codings.append(coding(ATC, drug.atc))
    return ({"coding": codings} if codings else {}) | {"text": drug.name}


def dosage(dose: Dose, bounds: dict | None = None) -> dict:
    """``Dosage``: the Norwegian rendering as text, fixed times or times a day as a daily
    ``timing``, an as-needed dose with its maximum per day; ``bounds`` the treatment period
    (on a prescription: when the treatment runs)."""
    repeat: dict[str, Any] | None = None
    if dose.times_of_day:
        repeat = {"frequency": len(dose.times_of_day), "period": 1, "periodUnit": "d",
                  "timeOfDay": [t.strftime("%H:%M:%S") for t in dose.times_of_day]}
    elif dose.times_per_day is not None:
        repeat = {"frequency": dose.times_per_day, "period": 1, "periodUnit": "d"}
    most = None if not dose.as_needed or dose.max_per_day is None else {
        "numerator": {"value": dose.max_per_day, "unit": dose.unit},
        "denominator": {"value": 1, "unit": "d", "system": UCUM, "code": "d"}}
    return drop_none({
        "text": describe(dose),
        "additionalInstruction": [{"text": dose.instructions}] if dose.instructions else None,
        "timing": {"repeat": (repeat or {}) | ({"boundsPeriod": bounds} if bounds else {})}
        if repeat or bounds else None,
        "asNeededBoolean": dose.as_needed,
        "route": {"text": ROUTE_NO[dose.route]},
        "doseAndRate": [{"doseQuantity": {"value": dose.amount, "unit": dose.unit}}],
        "maxDosePerPeriod": most,
    })


def recorded(lst: MedicationList, e: Entry) -> Change:
    """The history line that put the entry on the list (when and by whom)."""
    return next(c for c in lst.changes
                if c.entry_id == e.entry_id and c.action in ("prescribed", "recorded"))


def list_times(lst: MedicationList) -> list[datetime]:
    return [c.at for c in lst.changes if c.action in LIST_CHANGES]
