"""A loaded catalogue (``Catalogue``): the last extract's header and every entry ever loaded, by
id, with the lookups decision support needs (products by id, substances of a product, the
interactions between two products by ATC code and group)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from functools import cached_property
from itertools import combinations

from pydantic import Field

from libs.kernel.model import Frozen
from services.medication.catalogue.model import (
    ATC_LEVEL_BY_LENGTH, CatalogueError, Extract, ExtractHeader, Interaction, Level, Product,
    Substance, UnknownProduct, atc_level,
)

class InteractionHit(Frozen):
    """An interaction found between two products; ``atc`` are the codes that matched."""

    interaction: Interaction
    products: tuple[Product, Product]
    atc: tuple[str, str]

    @property
    def level(self) -> Level:
        return self.interaction.level

    @property
    def alerts(self) -> bool:
        return self.interaction.level.alerts


def _prefixes(atc: str) -> list[str]:
    """``"B01AA03"`` -> ``["B", "B01", "B01A", "B01AA", "B01AA03"]``."""
    return [atc[:n] for n in ATC_LEVEL_BY_LENGTH if n <= len(atc)]


class Catalogue(Frozen):
    """A loaded catalogue: the last extract's header and every entry ever loaded, by id.

    Entries missing from the latest extract stay (an earlier order may name them), with the date
    of the extract that first lacked them in ``expired``; lookups skip them unless asked.
    """

    header: ExtractHeader
    substances: Mapping[str, Substance]
    products: Mapping[str, Product]
    interactions: Mapping[str, Interaction]
    expired: Mapping[str, date] = Field(default_factory=dict)

    @classmethod
    def from_extract(cls, extract: Extract) -> Catalogue:
        from services.medication.catalogue.plan import apply_plan, plan_load  # plan builds on this

        return apply_plan(None, plan_load(None, extract))

    @property
    def extract_date(self) -> date:
        return self.header.extract_date

    def is_expired(self, entry_id: str) -> bool:
        return entry_id in self.expired

    def product(self, product_id: str) -> Product | None:
        """The product, expired or not, or None."""
        return self.products.get(product_id)

    def require_product(self, product_id: str) -> Product:
        found = self.products.get(product_id)
        if found is None:
            raise UnknownProduct(product_id)
        return found

    def active_products(self) -> tuple[Product, ...]:
        return tuple(p for p in self.products.values() if p.id not in self.expired)

    def substances_of(self, product: Product | str) -> tuple[Substance, ...]:
        p = self._resolve(product)
        return tuple(self.substances[s] for s in p.substance_ids)

    def atc_codes(self, product: Product | str) -> frozenset[str]:
        """The product's own ATC code and those of its substances."""
        p = self._resolve(product)
        return frozenset((p.atc, *(self.substances[s].atc for s in p.substance_ids)))

    def by_atc(self, code: str, *, include_expired: bool = False) -> tuple[Product, ...]:
        """Products whose ATC code or a substance's code is ``code`` or lies under it
        (``C10AA`` finds every statin)."""
        if atc_level(code) is None:
            raise CatalogueError([f"{code!r} is not a well-formed ATC code (like N02BE01)."])
        return tuple(
            p for p in self.products.values()
            if (include_expired or p.id not in self.expired)
            and any(atc.startswith(code) for atc in self.atc_codes(p))
        )

    @cached_property
    def interaction_index(self) -> Mapping[str, tuple[tuple[Interaction, int], ...]]:
        """Member ATC code -> (interaction, group 0 or 1), for the active interactions."""
        index: dict[str, list[tuple[Interaction, int]]] = {}
        for interaction in self.interactions.values():
            if interaction.id in self.expired:
                continue
            for side, group in enumerate(interaction.groups):
                for member in group:
                    index.setdefault(member.atc, []).append((interaction, side))
        return {atc: tuple(found) for atc, found in index.items()}

    def interactions_between(
        self, products: Iterable[Product | str]
    ) -> tuple[InteractionHit, ...]:
        """Every active interaction between two of the products, "avoid" first, at every level:
        a caller shows only hits that ``alert``. A product given twice counts once."""
        unique = list({p.id: p for p in map(self._resolve, products)}.values())
        matched = [self._matched_sides(p) for p in unique]
        hits: list[tuple[int, int, int, InteractionHit]] = []
        for i, j in combinations(range(len(unique)), 2):
            for interaction_id, (interaction, mine) in matched[i].items():
                theirs = matched[j].get(interaction_id, (interaction, {}))[1]
                pair = next(((mine[s], theirs[1 - s]) for s in mine if 1 - s in theirs), None)
                if pair is not None:
                    hit = InteractionHit(interaction=interaction, products=(unique[i], unique[j]),
                                         atc=pair)
                    hits.append((interaction.level, i, j, hit))
        hits.sort(key=lambda h: h[:3])
        return tuple(h[3] for h in hits)

    def _matched_sides(self, product: Product) -> dict[str, tuple[Interaction, dict[int, str]]]:
        """Interaction id -> (interaction, {group: the product's ATC code that matched it})."""
        found: dict[str, tuple[Interaction, dict[int, str]]] = {}
        for atc in sorted(self.atc_codes(product)):
            for prefix in _prefixes(atc):
                for interaction, side in self.interaction_index.get(prefix, ()):
                    found.setdefault(interaction.id, (interaction, {}))[1].setdefault(side, atc)
        return found

    def _resolve(self, product: Product | str) -> Product:
        return product if isinstance(product, Product) else self.require_product(product)
