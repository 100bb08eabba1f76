"""The drug catalogue (legemiddelkatalog), in a shape modelled on the national catalogue FEST.

FEST (Forskrivnings- og ekspedisjonsstøtte, DOMAIN §2.5) is one full extract with, among others,
active substances (virkestoff), branded products (legemiddel merkevare) with their packages
(legemiddelpakning), and interactions (Interaksjon). Here an extract is JSON with the same parts:

- ``substances``: a substance with its ATC code;
- ``products``: name, display name (NavnFormStyrke), ATC, form, route, ingredients with strength,
  packages, and a maximum daily dose (a project extension: FEST itself has no such field);
- ``interactions``: two substance groups (Substansgruppe) named by substance and ATC, a relevance
  level (Relevans), the clinical consequence (KliniskKonsekvens) and handling (Handtering).

A catalogue is only ever loaded, never edited: ``plan_load`` diffs a new extract against the
loaded state (idempotent by id; entries missing from the new extract are marked expired, never
deleted) and ``apply_plan`` gives the state after it, which a loader writes in one transaction.
Everything here is pure: no I/O beyond reading the shipped sample with ``importlib.resources``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import date
from enum import IntEnum
from functools import cache, cached_property
from importlib import resources
from itertools import combinations
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field,
                      PositiveFloat, StringConstraints, ValidationError)

SAMPLE_FILE = "sample_fest.json"
MAX_PROBLEMS_SHOWN = 20

_ATC = re.compile(r"[ABCDGHJLMNPRSV](?:\d\d(?:[A-Z](?:[A-Z](?:\d\d)?)?)?)?")
_ATC_LEVEL_BY_LENGTH = {1: 1, 3: 2, 4: 3, 5: 4, 7: 5}
_FEST_ID = re.compile(r"ID_[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}", re.I)


class CatalogueError(ValueError):
    """An extract or a load that cannot be used; ``problems`` holds one sentence per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        shown = self.problems[:MAX_PROBLEMS_SHOWN]
        if len(self.problems) > MAX_PROBLEMS_SHOWN:
            shown.append(f"… and {len(self.problems) - MAX_PROBLEMS_SHOWN} more problems.")
        super().__init__(" ".join(shown))


class UnknownProduct(CatalogueError):
    def __init__(self, product_id: str):
        super().__init__([f"Product {product_id} is not in the drug catalogue."])
        self.product_id = product_id


def atc_level(code: str) -> int | None:
    """The ATC level of a well-formed code (1 anatomical group … 5 substance), else None."""
    return _ATC_LEVEL_BY_LENGTH[len(code)] if _ATC.fullmatch(code) else None


def _atc(code: str) -> str:
    if atc_level(code) is None:
        raise ValueError(f"{code!r} is not a well-formed ATC code (like N02BE01 or A12AX)")
    return code


def _substance_atc(code: str) -> str:
    if atc_level(code) != 5:
        raise ValueError(f"{code!r} is not a full ATC code of one substance (like N02BE01)")
    return code


def _fest_id(value: str) -> str:
    if not _FEST_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a FEST id (ID_ followed by a GUID)")
    return value


def _not_empty(value: Any) -> Any:
    # checked on the input: a length constraint would count only the entries that validated
    if isinstance(value, (list, tuple)) and not value:
        raise ValueError("must list at least one entry")
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Atc = Annotated[str, AfterValidator(_atc)]
SubstanceAtc = Annotated[str, AfterValidator(_substance_atc)]
FestId = Annotated[str, AfterValidator(_fest_id)]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Level(IntEnum):
    """FEST's relevance of an interaction (relevans; FEST implementation guide ch. 8)."""

    AVOID = 1
    PRECAUTIONS = 2
    NO_ACTION = 3

    @property
    def label(self) -> str:
        """The Norwegian label shown to clinicians, e.g. "Bør unngås"."""
        return _LEVEL_LABELS[self][0]

    @property
    def label_en(self) -> str:
        return _LEVEL_LABELS[self][1]

    @property
    def alerts(self) -> bool:
        """Whether it is shown as a warning: "no action needed" must not raise an alert."""
        return self is not Level.NO_ACTION


_LEVEL_LABELS = {
    Level.AVOID: ("Bør unngås", "avoid"),
    Level.PRECAUTIONS: ("Forholdsregler bør tas", "take precautions"),
    Level.NO_ACTION: ("Ingen tiltak nødvendig", "no action needed"),
}


class Substance(Frozen):
    """An active substance (virkestoff); ``name`` is Norwegian, ``name_en`` the English INN."""

    id: FestId
    name: Text
    name_en: Text | None = None
    atc: SubstanceAtc


class Ingredient(Frozen):
    """A substance in a product with its strength, e.g. 500 mg or 100 E/ml."""

    substance_id: FestId
    amount: PositiveFloat
    unit: Text


class MaxDailyDose(Frozen):
    """The highest adult dose per day, in the strength's unit or in dose units ("tablett").
    ``sample`` marks a value written for the project: not clinical guidance."""

    amount: PositiveFloat
    unit: Text
    note: Text | None = None
    sample: bool = False


class Package(Frozen):
    """A package (legemiddelpakning); ``item_number`` is the pharmacy's varenummer."""

    id: FestId
    size: PositiveFloat
    unit: Text
    item_number: Text | None = None


class Product(Frozen):
    """A prescribable product (legemiddel merkevare)."""

    id: FestId
    name: Text
    name_form_strength: Text  # NavnFormStyrke, the display name, e.g. "Paracet tab 500 mg"
    atc: Atc
    form: Text  # legemiddelform, e.g. "tablett"
    route: Text  # administrasjonsvei, e.g. "oral"
    ingredients: Annotated[tuple[Ingredient, ...], BeforeValidator(_not_empty)]
    max_daily_dose: MaxDailyDose | None = None
    dosing_note: Text | None = None  # why there is no maximum, e.g. "Doseres etter INR"
    packages: tuple[Package, ...] = ()

    @property
    def substance_ids(self) -> tuple[str, ...]:
        return tuple(i.substance_id for i in self.ingredients)


class InteractingSubstance(Frozen):
    """One member of an interaction's substance group, named as FEST does: name and ATC code.
    A shorter ATC code (a group such as ``M01A``) matches every substance under it."""

    substance: Text
    atc: Atc


SubstanceGroup = Annotated[tuple[InteractingSubstance, ...], BeforeValidator(_not_empty)]


class Interaction(Frozen):
    """An interaction (Interaksjon) between any substance of one group and any of the other."""

    id: FestId
    level: Level
    groups: tuple[SubstanceGroup, SubstanceGroup]
    consequence: Text  # KliniskKonsekvens, Norwegian
    handling: Text | None = None  # Handtering, Norwegian


class ExtractHeader(Frozen):
    """``extract_date`` is FEST's HentetDato. ``sample`` marks data that are not from FEST."""

    extract_date: date
    source: Text
    sample: bool = False
    notice: Text | None = None
    licence: Text | None = None


class Extract(Frozen):
    """One full extract as read from a file; the header is the JSON key ``extract``."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True,
                              validate_by_alias=True)

    header: ExtractHeader = Field(alias="extract")
    substances: tuple[Substance, ...] = ()
    products: Annotated[tuple[Product, ...], BeforeValidator(_not_empty)]
    interactions: tuple[Interaction, ...] = ()

    @property
    def extract_date(self) -> date:
        return self.header.extract_date


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
    return [atc[:n] for n in _ATC_LEVEL_BY_LENGTH if n <= len(atc)]


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


# --- reading an extract ----------------------------------------------------------------------


def parse_extract(raw: Mapping[str, Any]) -> Extract:
    """The extract, or ``CatalogueError`` with one sentence per problem, e.g.
    ``products[3] ("Ibux") atc: 'M01AE1' is not a well-formed ATC code (like N02BE01 or A12AX).``"""
    if not isinstance(raw, Mapping):
        raise CatalogueError([f"The extract must be a JSON object, not {type(raw).__name__}."])
    try:
        extract = Extract.model_validate(raw)
    except ValidationError as exc:
        raise CatalogueError([_sentence(raw, e) for e in exc.errors()]) from None
    problems = _reference_problems(extract)
    if problems:
        raise CatalogueError(problems)
    return extract


def _where(raw: Mapping[str, Any], loc: tuple[int | str, ...]) -> str:
    """Where a problem is, for a person: ``("products", 3, "max_daily_dose", "amount")`` ->
    ``products[3] ("Ibux") max_daily_dose.amount``."""
    head, rest = "", list(loc)
    if len(loc) >= 2 and isinstance(loc[1], int):
        head, rest = f"{loc[0]}[{loc[1]}]", list(loc[2:])
        items = raw.get(str(loc[0]))
        item = items[loc[1]] if isinstance(items, list) and loc[1] < len(items) else None
        label = _label(item) if isinstance(item, Mapping) else None
        if label:
            head += f' ("{label}")'
    path = ""
    for part in rest:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return " ".join(p for p in (head, path) if p) or "the extract"


def _label(item: Mapping[str, Any]) -> str | None:
    """How a raw entry is named in a message: its name, its substances, or its id."""
    if isinstance(item.get("name"), str):
        return item["name"]
    try:
        groups = [", ".join(m["substance"] for m in g) for g in item["groups"]]
        return " + ".join(g for g in groups if g) or None
    except (KeyError, TypeError):
        return item["id"] if isinstance(item.get("id"), str) else None


def _sentence(raw: Mapping[str, Any], error: Any) -> str:
    where, kind, ctx = _where(raw, tuple(error["loc"])), error["type"], error.get("ctx", {})
    got = repr(error["input"])
    got = got if len(got) <= 40 else got[:37] + "..."
    if kind == "missing":
        return f"{where} is missing."
    if kind == "extra_forbidden":
        return f"{where} is not a known field."
    if kind == "value_error":
        return f"{where}: {ctx['error']}."
    if kind in ("too_short", "too_long"):
        least = "at least" if kind == "too_short" else "at most"
        limit = ctx["min_length" if kind == "too_short" else "max_length"]
        return f"{where} has {ctx['actual_length']} items but must have {least} {limit}."
    if kind.startswith(("date_", "datetime_")):
        return f"{where}: {got} is not a date (expected YYYY-MM-DD)."
    message = error["msg"][0].lower() + error["msg"][1:]
    return f"{where}: {message} (got {got})."


def _reference_problems(extract: Extract) -> list[str]:
    """Ids used twice, and ingredients naming a substance the extract does not have."""
    problems: list[str] = []
    owner: dict[str, str] = {}

    def claim(entry_id: str, where: str) -> None:
        if entry_id in owner:
            problems.append(f"{where} has id {entry_id}, which {owner[entry_id]} already uses.")
        owner.setdefault(entry_id, where)

    for i, s in enumerate(extract.substances):
        claim(s.id, f'substances[{i}] ("{s.name}")')
    for i, p in enumerate(extract.products):
        claim(p.id, f'products[{i}] ("{p.name}")')
        for k, package in enumerate(p.packages):
            claim(package.id, f'products[{i}] ("{p.name}") packages[{k}]')
    for i, interaction in enumerate(extract.interactions):
        names = " + ".join(", ".join(m.substance for m in g) for g in interaction.groups)
        claim(interaction.id, f'interactions[{i}] ("{names}")')
    known = {s.id for s in extract.substances}
    for i, p in enumerate(extract.products):
        for k, ingredient in enumerate(p.ingredients):
            if ingredient.substance_id not in known:
                problems.append(f'products[{i}] ("{p.name}") ingredients[{k}] names substance '
                                f"{ingredient.substance_id}, which is not in the extract.")
    return problems


# --- loading: a pure diff --------------------------------------------------------------------

T = TypeVar("T", Substance, Product, Interaction)


class KindPlan(Frozen, Generic[T]):
    """What loading does to one kind of entry. Every id of the new extract or the loaded state
    is in exactly one bucket. ``restored``: was expired, is back (written from the new extract)."""

    added: tuple[T, ...] = ()
    changed: tuple[T, ...] = ()
    restored: tuple[T, ...] = ()
    unchanged: tuple[str, ...] = ()
    expired: tuple[str, ...] = ()  # newly missing: mark expired as of the new extract's date
    still_expired: tuple[str, ...] = ()  # missing before and now: keep the earlier date

    @property
    def writes(self) -> tuple[T, ...]:
        """Entries to insert or overwrite, each no longer expired."""
        return self.added + self.changed + self.restored

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in
                ("added", "changed", "restored", "unchanged", "expired", "still_expired")}


class LoadPlan(Frozen):
    """Loading one extract onto a state. A loader applies it in one transaction: upsert
    ``writes`` (clearing their expiry), set ``expired`` entries' expiry to ``extract_date``,
    store the header; ``apply_plan`` is the same in memory."""

    extract: ExtractHeader
    previous: ExtractHeader | None
    substances: KindPlan[Substance]
    products: KindPlan[Product]
    interactions: KindPlan[Interaction]

    @property
    def extract_date(self) -> date:
        return self.extract.extract_date

    @property
    def kinds(self) -> dict[str, KindPlan[Any]]:
        return {"substances": self.substances, "products": self.products,
                "interactions": self.interactions}

    @property
    def is_noop(self) -> bool:
        """Nothing to write: the same extract was loaded already."""
        return self.extract == self.previous and not any(
            k.writes or k.expired for k in self.kinds.values())

    def counts(self) -> dict[str, dict[str, int]]:
        return {name: kind.counts() for name, kind in self.kinds.items()}

    def summary(self) -> str:
        """E.g. ``extract of 2026-11-29 (sample): products 50 added, …; substances …``."""
        parts = []
        for name, counts in self.counts().items():
            shown = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items() if n)
            parts.append(f"{name} {shown or 'none'}")
        sample = " (sample)" if self.extract.sample else ""
        return f"extract of {self.extract_date.isoformat()}{sample}: " + "; ".join(parts)


def _diff(
    plan: type[KindPlan[T]], old: Mapping[str, T], expired: Mapping[str, date], new: tuple[T, ...]
) -> KindPlan[T]:
    added: list[T] = []
    changed: list[T] = []
    restored: list[T] = []
    unchanged: list[str] = []
    for item in new:
        before = old.get(item.id)
        if before is None:
            added.append(item)
        elif item.id in expired:
            restored.append(item)
        elif before != item:
            changed.append(item)
        else:
            unchanged.append(item.id)
    present = {item.id for item in new}
    gone = [entry_id for entry_id in old if entry_id not in present]
    return plan(
        added=tuple(added), changed=tuple(changed), restored=tuple(restored),
        unchanged=tuple(unchanged),
        expired=tuple(i for i in gone if i not in expired),
        still_expired=tuple(i for i in gone if i in expired),
    )


def plan_load(current: Catalogue | None, new: Extract, *, allow_older: bool = False) -> LoadPlan:
    """What loading ``new`` onto ``current`` (None: nothing loaded yet) would do.

    Idempotent: planning the same extract against the state after it is a no-op. Never deletes.
    An extract older than the loaded one is refused unless ``allow_older`` (a deliberate
    rollback), so a stale file cannot silently expire newer products.
    """
    if current is not None and new.extract_date < current.extract_date and not allow_older:
        raise CatalogueError([
            f"The extract of {new.extract_date.isoformat()} is older than the loaded catalogue "
            f"({current.extract_date.isoformat()}); load it with allow_older to roll back."
        ])
    expired = current.expired if current else {}
    return LoadPlan(
        extract=new.header,
        previous=current.header if current else None,
        substances=_diff(KindPlan[Substance], current.substances if current else {}, expired,
                         new.substances),
        products=_diff(KindPlan[Product], current.products if current else {}, expired,
                       new.products),
        interactions=_diff(KindPlan[Interaction], current.interactions if current else {},
                           expired, new.interactions),
    )


def apply_plan(current: Catalogue | None, plan: LoadPlan) -> Catalogue:
    """The state after loading: what a loader's transaction leaves in the database."""
    if plan.previous != (current.header if current else None):
        raise CatalogueError(["The load plan was made against another catalogue state; "
                              "plan again against the current one."])
    expired = dict(current.expired) if current else {}

    def merged(old: Mapping[str, T], kind: KindPlan[T]) -> dict[str, T]:
        entries = dict(old)
        for item in kind.writes:
            entries[item.id] = item
            expired.pop(item.id, None)
        for entry_id in kind.expired:
            expired[entry_id] = plan.extract_date
        return entries

    return Catalogue(
        header=plan.extract,
        substances=merged(current.substances if current else {}, plan.substances),
        products=merged(current.products if current else {}, plan.products),
        interactions=merged(current.interactions if current else {}, plan.interactions),
        expired=expired,
    )


# --- the shipped sample ----------------------------------------------------------------------


def read_sample() -> dict[str, Any]:
    """The raw sample extract shipped as package data (written for the project, not FEST)."""
    node = resources.files(__package__).joinpath("data").joinpath(SAMPLE_FILE)
    return json.loads(node.read_text(encoding="utf-8"))


@cache
def sample_extract() -> Extract:
    return parse_extract(read_sample())


@cache
def sample_catalogue() -> Catalogue:
    """The sample loaded onto an empty state. SAMPLE DATA: not from FEST, not for clinical use."""
    return Catalogue.from_extract(sample_extract())
