"""Builders shared by the medication list's pure domain tests: a tiny in-test drug catalogue
(decision support's ``Catalogue`` Protocol), actors, a clock, and ``do``/``then``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta



from services.medication.domain import Dispenser, Nurse, Pharmacy, Prescriber
from services.medication.domain import administration as adm
from services.medication.domain import evolve as fl
from services.medication.domain import medication_list as ml
from services.medication.domain import state as st
from services.medication.domain.dosing import DoseIn
from services.medication.contract import Drug

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)  # 13:00 in Oslo
TODAY = date(2026, 11, 29)
P = uuid.UUID("0190f0a0-0000-7000-8000-0000000000a1")
UNIT = "974600978"
DOCTOR = Prescriber(hpr="7654321", unit=UNIT)
OTHER_DOCTOR = Prescriber(hpr="1234567", unit=UNIT)
NURSE = Nurse(hpr="9144889", unit=UNIT)
DEVICE = Dispenser(client_id="dispenser-42")
PHARMACY = Pharmacy(orgnr="123456785")


@dataclass(frozen=True)
class FakeProduct:
    product_id: str
    name: str
    atc: str | None
    substances: tuple[str, ...]
    strength: float | None = None
    strength_unit: str | None = None
    max_daily_dose: float | None = None
    max_daily_dose_unit: str | None = None
    expired: bool = False
    form: str | None = "tablett"


@dataclass(frozen=True)
class FakeInteraction:
    level: int
    text: str


@dataclass
class FakeCatalogue:
    """Products by id; interactions by the pair of substance names."""

    products: dict[str, FakeProduct]
    pairs: dict[frozenset[str], list[FakeInteraction]] = field(default_factory=dict)

    def product(self, product_id: str) -> FakeProduct | None:
        return self.products.get(product_id)

    def interactions(self, a, b) -> list[FakeInteraction]:
        return [i for x in a.substances for y in b.substances
                for i in self.pairs.get(frozenset({x.casefold(), y.casefold()}), [])]


PRODUCTS = [
    FakeProduct("paracet", "Paracet tab 500 mg", "N02BE01", ("paracetamol",), 500, "mg",
                4000, "mg"),
    FakeProduct("pinex", "Pinex tab 1 g", "N02BE01", ("Paracetamol",), 1000, "mg", 4000, "mg"),
    FakeProduct("marevan", "Marevan tab 2,5 mg", "B01AA03", ("warfarin",), 2.5, "mg"),
    FakeProduct("ibux", "Ibux tab 400 mg", "M01AE01", ("ibuprofen",), 400, "mg", 2400, "mg"),
    FakeProduct("selozok", "Selo-Zok tab 50 mg", "C07AB02", ("metoprolol",), 50, "mg", 200,
                "mg"),
    FakeProduct("norvasc", "Norvasc tab 5 mg", "C08CA01", ("amlodipin",), 5, "mg", 10, "mg"),
    FakeProduct("apocillin", "Apocillin tab 660 mg", "J01CE02", ("fenoksymetylpenicillin",),
                660, "mg", 8, "tablett"),
    FakeProduct("paralgin", "Paralgin forte tab", "N02AJ06", ("paracetamol", "kodein"), None,
                None, 8, "tablett"),
    FakeProduct("levaxin", "Levaxin tab 100 mikrog", "H03AA01", ("levotyroksin",), 100,
                "mikrog", 200, "µg"),
    FakeProduct("duphalac", "Duphalac mikstur 667 mg/ml", "A06AD11", ("laktulose",), 667,
                "mg/ml", 45, "ml", form="mikstur, oppløsning"),
    FakeProduct("old", "Gammel tab 10 mg", "N05BA04", ("oksazepam",), 10, "mg", 75, "mg",
                expired=True),
]
CATALOGUE = FakeCatalogue(
    products={p.product_id: p for p in PRODUCTS},
    pairs={
        frozenset({"warfarin", "ibuprofen"}): [FakeInteraction(1, "Økt blødningsrisiko.")],
        frozenset({"warfarin", "paracetamol"}): [FakeInteraction(2, "INR kan stige.")],
        frozenset({"metoprolol", "amlodipin"}): [FakeInteraction(3, "Additiv effekt.")],
    })


def dose(amount: float = 1, unit: str = "tablett", *times: str, **kw) -> DoseIn:
    """``dose(1, "tablett", "08:00", "20:00")``; without times, ``times_per_day=1`` unless
    another schedule is given."""
    if times:
        kw["times_of_day"] = [time.fromisoformat(t) for t in times]
    elif "times_per_day" not in kw and not kw.get("as_needed"):
        kw["times_per_day"] = 1
    return DoseIn(amount=amount, unit=unit, **kw)


def then(lst: st.MedicationList, events) -> st.MedicationList:
    for e in events:
        lst = fl.evolve(lst, e)
    return lst


def empty() -> st.MedicationList:
    return st.MedicationList.empty(P)


def prescribed(lst: st.MedicationList | None = None, product_id: str = "paracet",
               d: DoseIn | None = None, at: datetime = NOW, **kw):
    """The list after prescribing, and the entry."""
    lst = lst or empty()
    events = ml.prescribe(lst, ml.Prescribe(product_id=product_id, dose=d or dose(
        1, "tablett", "08:00", "20:00"), **kw), DOCTOR, at, catalogue=CATALOGUE)
    lst = then(lst, events)
    return lst, lst.entry(events[0].entry_id)


def drug(name: str, *substances: str, atc: str | None = None) -> Drug:
    return Drug(name=name, atc=atc, substances=substances)


# administration at a fixed evening (tests/medication/test_domain_list*.py)
EVENING = datetime(2026, 11, 29, 19, tzinfo=UTC)     # 20:00 in Oslo
LATER = NOW + timedelta(hours=9)                     # 22:00 in Oslo
TOMORROW_8 = datetime(2026, 11, 30, 7, tzinfo=UTC)   # 08:00 in Oslo


def given(lst, entry, at=EVENING, now=LATER, by=NURSE, **kw):
    return adm.record_administration(lst, adm.RecordAdministration(
        entry_id=entry.entry_id, outcome=kw.pop("outcome", "given"), scheduled_for=at, **kw),
        by, now)
