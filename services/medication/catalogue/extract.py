"""Reading an extract: ``parse_extract`` gives the ``Extract`` or a ``CatalogueError`` with one
sentence per problem; and the shipped sample (``read_sample``, ``sample_catalogue``), SAMPLE DATA
written for the project: not from FEST, not for clinical use."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any
from collections.abc import Mapping

from pydantic import ValidationError

from services.medication.catalogue.loaded import Catalogue
from services.medication.catalogue.model import CatalogueError, Extract

SAMPLE_FILE = "sample_fest.json"


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
