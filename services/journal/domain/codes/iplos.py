"""IPLOS functional assessment (funksjonsvurdering): the variables and their allowed scores.

A new service decision needs every variable scored 1–5 (1 no problems … 5 full need of help)
or 9 (not relevant). The variable list is written for the project; see ``data/iplos/SOURCE.md``
for what was and was not verified.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from services.journal.domain.codes.lists import read_json

ALLOWED_SCORES = frozenset({1, 2, 3, 4, 5, 9})


@dataclass(frozen=True)
class IplosVariable:
    """``id`` is the project's English key; ``name`` the Norwegian variable name."""

    id: str
    name: str
    description: str


class InvalidIplosAssessment(ValueError):
    """Every problem of one assessment, in one message; the list is in ``problems``."""

    def __init__(self, problems: list[str]):
        super().__init__("IPLOS assessment is invalid: " + "; ".join(problems))
        self.problems = problems


@cache
def iplos_variables() -> tuple[IplosVariable, ...]:
    listed = read_json("iplos/iplos.json")["variables"]
    return tuple(IplosVariable(v["id"], v["name"], v["en"]) for v in listed)


@cache
def iplos_scores() -> dict[int, str]:
    """Score -> Norwegian label, e.g. ``9: "Ikke relevant"``."""
    return {s["score"]: s["name"] for s in read_json("iplos/iplos.json")["scores"]}


def validate_iplos(scores: Mapping[str, int]) -> dict[str, int]:
    """The scores in variable order, or ``InvalidIplosAssessment`` naming every problem:
    missing variables, unknown keys, and scores outside 1–5 and 9."""
    variables = iplos_variables()
    known = {v.id: v for v in variables}
    problems: list[str] = []
    missing = [f"{v.id} ({v.name})" for v in variables if v.id not in scores]
    if missing:
        problems.append("missing " + ", ".join(missing))
    unknown = sorted(repr(k) for k in scores if k not in known)
    if unknown:
        problems.append("unknown variables " + ", ".join(unknown))
    for v in variables:
        score = scores.get(v.id)
        if v.id in scores and (type(score) is not int or score not in ALLOWED_SCORES):
            problems.append(f"{v.id} ({v.name}) has score {score!r}, allowed 1–5 or 9")
    if problems:
        raise InvalidIplosAssessment(problems)
    return {v.id: scores[v.id] for v in variables}
