"""National code lists shipped with the journal: ICPC-2, ICD-10 and IPLOS service codes.

Diagnoses (diagnoser) are coded in ICPC-2 (primary care) or ICD-10; a municipal service
decision (vedtak) names an IPLOS/KPR service code (tjenestekode). The lists are package data
(``data/``, origin and licence in the ``SOURCE.md`` next to each list), read once with
``importlib.resources`` and cached. Everything here is pure: no I/O beyond reading package data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from collections.abc import Mapping
from importlib.resources.abc import Traversable
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class CodeSystem:
    """A code system: ``uri`` is the FHIR ``Coding.system`` we write; ``aliases`` are read too."""

    key: str
    name: str
    uri: str
    resource: str
    aliases: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"CodeSystem({self.name!r})"


ICPC2 = CodeSystem(
    "icpc2", "ICPC-2", "urn:oid:2.16.578.1.12.4.1.1.7170", "diagnoses/icpc2.json",
    ("icpc-2", "http://hl7.org/fhir/sid/icpc-2", "urn:oid:2.16.840.1.113883.6.139"),
)
ICD10 = CodeSystem(
    "icd10", "ICD-10", "urn:oid:2.16.578.1.12.4.1.1.7110", "diagnoses/icd10.json",
    ("icd-10", "http://hl7.org/fhir/sid/icd-10-no"),
)
IPLOS_SERVICE = CodeSystem(
    "iplos-service", "IPLOS service", "urn:oid:2.16.578.1.12.4.1.1.9151",
    "iplos/service_codes.json", ("tjenestekode", "kpr-service"),
)
SYSTEMS = (ICPC2, ICD10, IPLOS_SERVICE)
DIAGNOSIS_SYSTEMS = (ICPC2, ICD10)


@dataclass(frozen=True)
class Code:
    """One code with its Norwegian text."""

    system: CodeSystem
    code: str
    text: str

    def to_coding(self) -> dict[str, str]:
        """The FHIR ``Coding`` for this code."""
        return {"system": self.system.uri, "code": self.code, "display": self.text}


class CodeError(ValueError):
    """A code or code system that the shipped lists do not know."""


class UnknownCodeSystem(CodeError):
    def __init__(self, system: str, allowed: tuple[CodeSystem, ...] = SYSTEMS, kind: str = ""):
        names = ", ".join(s.name for s in allowed)
        super().__init__(f"unknown {kind}code system {system!r}; expected one of {names}")
        self.system = system


class UnknownCode(CodeError):
    def __init__(self, system: CodeSystem, code: str, hint: str = ""):
        super().__init__(f"{system.name} code {code!r} does not exist" + hint)
        self.system, self.code = system, code


def data_file(resource: str) -> Traversable:
    """A file under this package's ``data/`` directory (works from an installed wheel too)."""
    node = resources.files(__package__).joinpath("data")
    for part in resource.split("/"):
        node = node.joinpath(part)
    return node


@cache
def read_json(resource: str) -> dict[str, Any]:
    """A JSON file under ``data/``, parsed once."""
    return json.loads(data_file(resource).read_text(encoding="utf-8"))


@cache
def _table(system: CodeSystem) -> tuple[Mapping[str, str], Mapping[str, str]]:
    """``(code -> text, UPPER-CASED code -> code)``, read-only."""
    codes: dict[str, str] = read_json(system.resource)["codes"]
    return MappingProxyType(codes), MappingProxyType({c.upper(): c for c in codes})


def code_system(system: str | CodeSystem) -> CodeSystem:
    """Resolve a key, name, FHIR URI or alias (``"ICPC-2"``, ``"icd10"``, ``"urn:oid:…7110"``)."""
    if isinstance(system, CodeSystem):
        return system
    wanted = system.strip().lower()
    for candidate in SYSTEMS:
        names = (candidate.key, candidate.name, candidate.uri, *candidate.aliases)
        if wanted in (n.lower() for n in names):
            return candidate
    raise UnknownCodeSystem(system)


def normalise(code: str) -> str:
    """Drop surrounding blanks and dots: ``" e11.9 "`` -> ``"e119"`` (case is kept)."""
    return code.strip().replace(".", "")


def lookup(system: str | CodeSystem, code: str) -> Code | None:
    """The code with its text, or None. Case-insensitive; ``E11.9`` finds ``E119``."""
    cs = code_system(system)
    texts, index = _table(cs)
    canonical = index.get(normalise(code).upper())
    return None if canonical is None else Code(cs, canonical, texts[canonical])


def icpc2(code: str) -> Code | None:
    return lookup(ICPC2, code)


def icd10(code: str) -> Code | None:
    return lookup(ICD10, code)


def service_code(code: str) -> Code | None:
    """An IPLOS/KPR service code (tjenestekode), e.g. ``"15"`` helsetjenester i hjemmet."""
    return lookup(IPLOS_SERVICE, code)


def all_codes(system: str | CodeSystem) -> list[Code]:
    cs = code_system(system)
    return [Code(cs, c, t) for c, t in _table(cs)[0].items()]


def search(system: str | CodeSystem, text: str, limit: int = 20) -> list[Code]:
    """Codes whose code or text matches every word of ``text``, best first.

    Ranking: exact code, code prefix, text starting with the query, a word of the text starting
    with a query word, then any substring; ties by code.
    """
    cs = code_system(system)
    query = " ".join(text.casefold().split())
    as_code = normalise(query)
    words = query.split()
    if not words or limit <= 0:
        return []
    ranked: list[tuple[int, str, str]] = []
    for code, label in _table(cs)[0].items():
        folded_code, folded = code.casefold(), label.casefold()
        if folded_code == as_code:
            rank = 0
        elif len(words) == 1 and folded_code.startswith(as_code):
            rank = 1
        elif all(w in folded for w in words):
            tokens = folded.replace("/", " ").replace(",", " ").replace("(", " ").split()
            if folded.startswith(query):
                rank = 2
            elif all(any(t.startswith(w) for t in tokens) for w in words):
                rank = 3
            else:
                rank = 4
        else:
            continue
        ranked.append((rank, code, label))
    ranked.sort()
    return [Code(cs, code, label) for _, code, label in ranked[:limit]]


def validate_code(system: str | CodeSystem, code: str) -> Code:
    """The code, or ``UnknownCode`` with a readable message."""
    cs = code_system(system)
    found = lookup(cs, code)
    if found is not None:
        return found
    hint, prefix = "", normalise(code).upper()
    subcodes = [c for c in _table(cs)[0] if len(prefix) >= 3 and c.upper().startswith(prefix)]
    if subcodes:
        hint = (f"; it is a category, use one of its {len(subcodes)} subcodes "
                f"({subcodes[0]}–{subcodes[-1]})")
    raise UnknownCode(cs, code, hint)


def validate_diagnosis(system: str | CodeSystem, code: str) -> Code:
    """A diagnosis in ICPC-2 or ICD-10, or ``CodeError`` ("ICPC-2 code 'T00' does not exist")."""
    cs = code_system(system)
    if cs not in DIAGNOSIS_SYSTEMS:
        raise UnknownCodeSystem(cs.name, DIAGNOSIS_SYSTEMS, kind="diagnosis ")
    return validate_code(cs, code)
