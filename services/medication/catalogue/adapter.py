"""The drug catalogue (``services.medication.catalogue``) seen through decision support's
``Catalogue`` Protocol. Pure: it reads a loaded ``catalogue.Catalogue`` and never changes it.

- A product's ``name`` is FEST's display name (NavnFormStyrke, "Paracet tab 500 mg"), its
  ``substances`` the Norwegian substance names, its strength the single ingredient's (none for a
  combination product), and ``expired`` whether the newest extract lacked it.
- Interactions are matched by ATC code, as the catalogue does: a drug's own code and those of its
  substances (by name), each with its groups (``M01A`` covers ``M01AE01``), against the two
  substance groups of every active interaction. So a drug outside the catalogue (recorded from a
  discharge summary with only a name and an ATC code) is checked too. The text shown is the
  clinical consequence and its handling.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.medication.catalogue.loaded import Catalogue
from services.medication.catalogue.model import Product
from services.medication.domain.decision_support import Ingredients


@dataclass(frozen=True)
class ProductView:
    product_id: str
    name: str
    atc: str | None
    substances: tuple[str, ...]
    strength: float | None
    strength_unit: str | None
    form: str | None
    max_daily_dose: float | None
    max_daily_dose_unit: str | None
    expired: bool


@dataclass(frozen=True)
class InteractionView:
    level: int
    text: str


def _prefixes(atc: str) -> list[str]:
    return [atc[:n] for n in (1, 3, 4, 5, 7) if n <= len(atc)]


class FestCatalogue:
    """``decision_support.Catalogue`` over a loaded catalogue."""

    def __init__(self, catalogue: Catalogue, max_sides: int = 10_000):
        self.catalogue = catalogue
        self._atc_by_substance = {s.name.casefold(): s.atc
                                  for s in catalogue.substances.values()}
        # a drug's interaction sides by (ATC code, substances): an order checks the new drug
        # against every entry on the list, the same few drugs again and again, and the
        # catalogue this reads never changes (a new load is a new FestCatalogue)
        self._sides_of: dict[tuple[str | None, tuple[str, ...]], dict[str, set[int]]] = {}
        self._max_sides = max_sides

    def product(self, product_id: str) -> ProductView | None:
        p: Product | None = self.catalogue.product(product_id)
        if p is None:
            return None
        one = p.ingredients[0] if len(p.ingredients) == 1 else None
        most = p.max_daily_dose
        return ProductView(
            product_id=p.id, name=p.name_form_strength, atc=p.atc,
            substances=tuple(s.name for s in self.catalogue.substances_of(p)),
            strength=one.amount if one else None, strength_unit=one.unit if one else None,
            form=p.form,
            max_daily_dose=most.amount if most else None,
            max_daily_dose_unit=most.unit if most else None,
            expired=self.catalogue.is_expired(p.id))

    def _sides(self, drug: Ingredients) -> dict[str, set[int]]:
        """Interaction id -> the groups (0, 1) the drug belongs to (not to be changed: kept
        for the next drug with the same code and substances)."""
        key = (drug.atc, tuple(drug.substances))
        if (known := self._sides_of.get(key)) is None:
            if len(self._sides_of) >= self._max_sides:   # forget the oldest
                del self._sides_of[next(iter(self._sides_of))]
            known = self._sides_of[key] = self._find_sides(drug)
        return known

    def _find_sides(self, drug: Ingredients) -> dict[str, set[int]]:
        codes = {drug.atc} | {self._atc_by_substance.get(s.casefold()) for s in drug.substances}
        found: dict[str, set[int]] = {}
        index = self.catalogue.interaction_index
        for code in filter(None, codes):
            for prefix in _prefixes(code):
                for interaction, side in index.get(prefix, ()):
                    found.setdefault(interaction.id, set()).add(side)
        return found

    def interactions(self, a: Ingredients, b: Ingredients) -> Iterable[InteractionView]:
        mine, theirs = self._sides(a), self._sides(b)
        out = []
        for interaction_id, sides in mine.items():
            other = theirs.get(interaction_id, set())
            if any(1 - s in other for s in sides):
                i = self.catalogue.interactions[interaction_id]
                text = " ".join(filter(None, (i.consequence, i.handling)))
                out.append(InteractionView(level=int(i.level), text=text))
        return sorted(out, key=lambda v: v.level)
