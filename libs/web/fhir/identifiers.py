"""A person's national identifier in a FHIR search (``identifier=<system>|<value>``), parsed
once at the edge into the canonical number the record keys its patients by.

The systems are the Norwegian ones (``libs/kernel/identifiers.py``): fødselsnummer, D-number,
the national H-number (FHN) and a local H-number ("HNR"); a value without a system is taken as
any of them. The number is checked (digits, check digits, a real date) with the 2032 rule
accepted next to the old one, since a look-up only needs to know what number is meant. Every
error names the problem, never the number (``InvalidIdentifier`` masks it).
"""

from __future__ import annotations

from libs.kernel.identifiers import (
    IdentifierSystem, InvalidIdentifier, PersonId, PersonIdType, parse_person_id, system_for,
)
from libs.web.fhir.search import SearchParameterError

PERSON_SYSTEMS = (IdentifierSystem.FNR, IdentifierSystem.DNR, IdentifierSystem.FHN,
                  IdentifierSystem.HNR)
_H_NUMBER = (IdentifierSystem.FHN, IdentifierSystem.HNR)


def person_identifier(raw: str) -> PersonId:
    """The person a token ``identifier`` search names; a 422 (``SearchParameterError``) for
    another system, more than one value, or a number that is not a valid one of its system."""
    system, bar, value = raw.partition("|")
    if not bar:
        system, value = "", raw
    if "," in value:
        raise SearchParameterError("identifier: one national id number at a time")
    if system and system not in PERSON_SYSTEMS:
        raise SearchParameterError(
            "identifier: patients are found by a national id number, with one of the systems "
            + ", ".join(PERSON_SYSTEMS))
    number = "".join(value.split())        # "311299 56715" is the same number
    try:
        # an H-number's assigner is not part of the number; any stands in for the check
        pid = parse_person_id(number, assigner="look-up", rule_2032=True)
    except InvalidIdentifier as exc:
        raise SearchParameterError(f"identifier: {exc}") from None
    if system and not _matches(system, pid):
        raise SearchParameterError(
            f"identifier: the number is {_KIND[pid.type]}, not one of system {system}")
    return PersonId(pid.value, pid.type, pid.birth_date)


_KIND = {PersonIdType.fnr: "a fødselsnummer", PersonIdType.dnr: "a D-number",
         PersonIdType.hnr: "an H-number", PersonIdType.synthetic: "a test number"}


def _matches(system: str, pid: PersonId) -> bool:
    if pid.type is PersonIdType.hnr:
        return system in _H_NUMBER
    return system == system_for(pid)
