"""Decision support on every order or change (DOMAIN.md §2.3, §2.5, §11 requirement 36): pure
rules over the drug being ordered, the rest of the list, the drug catalogue and the patient's
critical information (CAVE).

Rules, each giving warnings at FEST's two shown levels:
- interaction with an active entry, from the catalogue: level 1 "bør unngås" -> ``avoid``,
  level 2 "forholdsregler bør tas" -> ``precautions``, level 3 "ingen tiltak nødvendig" never
  shown;
- duplicate substance: an active entry with a substance in common, or the same ATC code ->
  ``precautions`` (two strengths of one drug are sometimes meant; the prescriber decides);
- CAVE: a drug reaction or other allergy, registered or verified (refuted and removed never warn),
  whose substance is one of the drug's substances or its name, an ATC code (or group) the drug's
  ATC code starts with, or a drug class (``CAVE_CLASSES``: "Penicillin" covers J01C),
  case-insensitively -> ``avoid``;
- daily dose above the catalogue's maximum -> ``avoid``. Compared when the units can be: the same
  unit, mass units converted (g, mg, mikrog/µg), or through the product's strength in either
  direction: a dose counted in units of the form ("tablett" of a "depottablett") or in what the
  strength is per (the ml of "mg/ml"). Otherwise (a dose in mg of a combination product whose
  maximum is in tablets, a dose in ml of a tablet) it is not checked.

Going ahead despite an ``avoid`` needs a stated reason (``require_override``: ``Invalid``
without it, carrying the warnings). The catalogue and the CAVE list are Protocols, so the
catalogue module, the journal's critical information or a tiny in-test fake all fit. Texts shown
to clinicians are Norwegian and kept in ``TEXTS``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Protocol
from uuid import UUID

from libs.kernel.errors import Invalid
from services.medication.domain.dosing import daily_amount, nb
from services.medication.contract import Dose, Drug, MedicationWarning


# --- what decision support needs from others ---------------------------------------------------

class Ingredients(Protocol):
    """What an interaction is looked up by: an ATC code and substance names."""

    @property
    def atc(self) -> str | None: ...
    @property
    def substances(self) -> Sequence[str]: ...


class CatalogueProduct(Protocol):
    """A product in the drug catalogue (FEST LegemiddelMerkevare). ``strength`` is per unit of
    the ``form`` (per tablet) or per what ``strength_unit`` names (e.g. "mg" or "mg/ml");
    ``max_daily_dose`` is in ``max_daily_dose_unit``; ``expired`` marks a product missing from
    the newest extract."""

    @property
    def product_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def atc(self) -> str | None: ...
    @property
    def substances(self) -> Sequence[str]: ...
    @property
    def strength(self) -> float | None: ...
    @property
    def strength_unit(self) -> str | None: ...
    @property
    def form(self) -> str | None: ...
    @property
    def max_daily_dose(self) -> float | None: ...
    @property
    def max_daily_dose_unit(self) -> str | None: ...
    @property
    def expired(self) -> bool: ...


class CatalogueInteraction(Protocol):
    """A FEST interaction: ``level`` 1 avoid, 2 take precautions, 3 no action needed."""

    @property
    def level(self) -> int: ...
    @property
    def text(self) -> str: ...


class Catalogue(Protocol):
    def product(self, product_id: str) -> CatalogueProduct | None:
        """The product, also when expired; None when the catalogue never had it."""

    def interactions(self, a: Ingredients, b: Ingredients) -> Iterable[CatalogueInteraction]:
        """Every interaction between the two (by substance or ATC code), at any level."""


class CaveEntry(Protocol):
    """Critical information from the journal (the journal's ``CriticalInfo`` fits)."""

    @property
    def critical_id(self) -> UUID: ...
    @property
    def category(self) -> str: ...
    @property
    def substance(self) -> str | None: ...
    @property
    def status(self) -> str: ...


class ListEntry(Protocol):
    @property
    def entry_id(self) -> UUID: ...
    @property
    def drug(self) -> Drug: ...


# --- texts shown to clinicians (bokmål) --------------------------------------------------------

TEXTS: dict[str, str] = {
    "interaction.avoid": "Interaksjon med {other}: bør unngås. {text}",
    "interaction.precautions": "Interaksjon med {other}: forholdsregler bør tas. {text}",
    "duplicate.substance": "Samme virkestoff som {other} ({substance}).",
    "duplicate.atc": "Samme ATC-kode som {other} ({atc}).",
    "cave": "CAVE ({category}, {status}): {substance}.",
    "max_dose": "Døgndosen {daily} {unit} er over maksimal døgndose {max} {unit}.",
}
CAVE_CATEGORIES = {"drug_reaction": "legemiddelreaksjon", "other_allergy": "annen allergi"}
CAVE_STATUSES = {"registered": "registrert", "verified": "verifisert"}
SHOWN_LEVELS = {1: "avoid", 2: "precautions"}
# A CAVE is often registered for a drug class ("Penicillin", "NSAID"), not a substance. The class
# names clinicians write, in bokmål and English, and the ATC groups they cover [inference: from
# the WHO ATC index; a class here must never be narrower than what a clinician means by it].
CAVE_CLASSES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("penicillin", "penicilliner", "penicillins"), ("J01C",)),
    **dict.fromkeys(("cefalosporin", "cefalosporiner", "cephalosporin", "cephalosporins"),
                    ("J01DB", "J01DC", "J01DD", "J01DE")),
    **dict.fromkeys(("sulfonamid", "sulfonamider", "sulfa", "sulfonamides"), ("J01E",)),
    **dict.fromkeys(("makrolid", "makrolider", "macrolide", "macrolides"), ("J01FA",)),
    **dict.fromkeys(("kinolon", "kinoloner", "fluorokinolon", "fluorokinoloner", "quinolone",
                     "quinolones"), ("J01M",)),
    **dict.fromkeys(("tetracyklin", "tetracykliner", "tetracycline", "tetracyclines"),
                    ("J01AA",)),
    **dict.fromkeys(("nsaid", "nsaids", "nsaid-er"), ("M01A", "N02BA")),
    **dict.fromkeys(("acetylsalisylsyre", "asa", "aspirin"), ("B01AC06", "N02BA01")),
    **dict.fromkeys(("opioid", "opioider", "opioids", "opiat", "opiater"), ("N02A", "R05DA")),
    **dict.fromkeys(("benzodiazepin", "benzodiazepiner", "benzodiazepines"),
                    ("N05BA", "N05CD")),
    **dict.fromkeys(("statin", "statiner", "statins"), ("C10AA",)),
    **dict.fromkeys(("ace-hemmer", "ace-hemmere", "ace inhibitor", "ace inhibitors"), ("C09A",)),
}
MASS = {"g": 1000.0, "mg": 1.0, "mikrog": 1e-3, "µg": 1e-3, "μg": 1e-3, "mcg": 1e-3, "ug": 1e-3}


# --- the rules -------------------------------------------------------------------------------

def check(drug: Drug, dose: Dose, others: Iterable[ListEntry], *, catalogue: Catalogue,
          cave: Iterable[CaveEntry] = ()) -> tuple[MedicationWarning, ...]:
    """Every warning for ordering ``drug`` at ``dose`` next to ``others`` (the active entries
    of the list, without the one being changed)."""
    others = tuple(others)
    return (*interactions(drug, others, catalogue), *duplicates(drug, others),
            *cave_conflicts(drug, cave), *above_max_dose(drug, dose, catalogue))


def interactions(drug: Drug, others: Sequence[ListEntry],
                 catalogue: Catalogue) -> list[MedicationWarning]:
    out: list[MedicationWarning] = []
    for o in others:
        seen: set[tuple[int, str]] = set()
        for i in catalogue.interactions(drug, o.drug):
            if i.level not in SHOWN_LEVELS or (i.level, i.text) in seen:
                continue
            seen.add((i.level, i.text))
            level = SHOWN_LEVELS[i.level]
            out.append(MedicationWarning(
                kind="interaction", level=level, other_entry_id=o.entry_id, detail=i.text,
                message=TEXTS[f"interaction.{level}"].format(other=o.drug.name,
                                                             text=i.text).strip()))
    return sorted(out, key=lambda w: w.level != "avoid")


def duplicates(drug: Drug, others: Sequence[ListEntry]) -> list[MedicationWarning]:
    mine = {s.strip().casefold(): s for s in drug.substances}
    out = []
    for o in others:
        shared = [mine[k] for k in (s.strip().casefold() for s in o.drug.substances) if k in mine]
        if shared:
            message = TEXTS["duplicate.substance"].format(other=o.drug.name,
                                                          substance=", ".join(shared))
        elif drug.atc and o.drug.atc and drug.atc.upper() == o.drug.atc.upper():
            message = TEXTS["duplicate.atc"].format(other=o.drug.name, atc=drug.atc)
        else:
            continue
        out.append(MedicationWarning(kind="duplicate", level="precautions", message=message,
                                     other_entry_id=o.entry_id))
    return out


def _is_atc(term: str) -> bool:
    return 3 <= len(term) <= 7 and term[0].isalpha() and term[1:3].isdigit()


def cave_conflicts(drug: Drug, cave: Iterable[CaveEntry]) -> list[MedicationWarning]:
    names = {s.strip().casefold() for s in drug.substances} | {drug.name.strip().casefold()}
    atc = (drug.atc or "").upper()
    out = []
    for x in cave:
        if x.category not in CAVE_CATEGORIES or x.status not in CAVE_STATUSES:
            continue
        term = (x.substance or "").strip()
        if not term:
            continue
        groups = CAVE_CLASSES.get(term.casefold(), ())
        if (term.casefold() in names or (_is_atc(term) and atc.startswith(term.upper()))
                or (atc and any(atc.startswith(g) for g in groups))):
            out.append(MedicationWarning(
                kind="cave", level="avoid", critical_id=x.critical_id,
                message=TEXTS["cave"].format(category=CAVE_CATEGORIES[x.category],
                                             status=CAVE_STATUSES[x.status], substance=term)))
    return out


def _convert(amount: float, unit: str, target: str) -> float | None:
    u, t = unit.strip().casefold(), target.strip().casefold()
    if u == t:
        return amount
    if u in MASS and t in MASS:
        return amount * MASS[u] / MASS[t]
    return None


def _held(unit: str, product: CatalogueProduct) -> str | None:
    """The mass unit of the product's strength when ``unit`` counts what the strength is per:
    the ``ml`` of "mg/ml", or a unit of the form ("tablett" of a "depottablett")."""
    if not (product.strength and product.strength_unit):
        return None
    mass, _, per = product.strength_unit.partition("/")
    u = unit.strip().casefold()
    if per:
        return mass if u == per.strip().casefold() else None
    words = re.findall(r"\w+", (product.form or "").casefold())
    return mass if len(u) >= 3 and any(w.endswith(u) for w in words) else None


def daily_in(dose: Dose, product: CatalogueProduct) -> float | None:
    """The dose per day in the unit of the product's maximum, when the two compare: the same
    unit, mass units, or through the strength (a dose of 2 tablett of 500 mg against a maximum
    in mg, or a dose in mg against a maximum in tablett)."""
    target = product.max_daily_dose_unit
    if not target:
        return None
    per_day = daily_amount(dose)
    direct = _convert(per_day, dose.unit, target)
    if direct is not None:
        return direct
    if (mass := _held(dose.unit, product)) is not None:  # counted in tablets, ml, ...
        return _convert(per_day * (product.strength or 0), mass, target)
    if (mass := _held(target, product)) is not None:  # the maximum is counted so
        in_mass = _convert(per_day, dose.unit, mass)
        return None if in_mass is None else in_mass / (product.strength or 1)
    return None


def above_max_dose(drug: Drug, dose: Dose, catalogue: Catalogue) -> list[MedicationWarning]:
    product = catalogue.product(drug.product_id) if drug.product_id else None
    if product is None or not product.max_daily_dose or not product.max_daily_dose_unit:
        return []
    daily = daily_in(dose, product)
    if daily is None or daily <= product.max_daily_dose * (1 + 1e-9):
        return []
    return [MedicationWarning(kind="max_dose", level="avoid", message=TEXTS["max_dose"].format(
        daily=nb(round(daily, 3)), max=nb(product.max_daily_dose),
        unit=product.max_daily_dose_unit))]


def warning_details(warnings: Sequence[MedicationWarning]) -> list[dict[str, str]]:
    """The warnings as the details of a refusal: each its message, and its kind and level as
    ``kind:level`` (``interaction:avoid``)."""
    return [{"text": w.message, "code": f"{w.kind}:{w.level}"} for w in warnings]


def require_override(warnings: Sequence[MedicationWarning], reason: str | None) -> str | None:
    """The stated reason for going ahead, required when any warning says "avoid" (``Invalid``
    with the warnings otherwise); None when nothing was there to override or no reason was
    given."""
    stripped = (reason or "").strip() or None
    avoid = [w for w in warnings if w.level == "avoid"]
    if avoid and stripped is None:
        raise Invalid(f"{len(avoid)} warning(s) say this should be avoided: going ahead needs a "
                      "stated reason (override_reason).", warning_details(warnings))
    return stripped if warnings else None
