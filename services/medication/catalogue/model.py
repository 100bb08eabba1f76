"""The drug catalogue's entries (legemiddelkatalog), in a shape modelled on the national
catalogue FEST.

FEST (Forskrivnings- og ekspedisjonsstøtte, DOMAIN §2.5) is one full extract with, among others,
active substances (virkestoff), branded products (legemiddel merkevare) with their packages
(legemiddelpakning), and interactions (Interaksjon). Here an extract is JSON with the same parts:

- ``substances``: a substance with its ATC code;
- ``products``: name, display name (NavnFormStyrke), ATC, form, route, ingredients with strength,
  packages, and a maximum daily dose (a project extension: FEST itself has no such field);
- ``interactions``: two substance groups (Substansgruppe) named by substance and ATC, a relevance
  level (Relevans), the clinical consequence (KliniskKonsekvens) and handling (Handtering).

A catalogue is only ever loaded, never edited (``plan``); ``loaded`` is a loaded catalogue and
its lookups. Everything here is pure.
"""

from __future__ import annotations

import re
from datetime import date
from enum import IntEnum
from typing import Annotated, Any

from pydantic import (AfterValidator, BeforeValidator, ConfigDict, Field, PositiveFloat,
                      StringConstraints)

from libs.kernel.model import Frozen

MAX_PROBLEMS_SHOWN = 20


_ATC = re.compile(r"[ABCDGHJLMNPRSV](?:\d\d(?:[A-Z](?:[A-Z](?:\d\d)?)?)?)?")
ATC_LEVEL_BY_LENGTH = {1: 1, 3: 2, 4: 3, 5: 4, 7: 5}
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
    return ATC_LEVEL_BY_LENGTH[len(code)] if _ATC.fullmatch(code) else None


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
