"""Norwegian person and organisation identifiers (DOMAIN.md §6, requirements 1–6 of §11).

Glossary: national id number = fødselsnummer (fnr); D-number = D-nummer; H-number = hjelpenummer;
birth-century digits = individnummer; organisation number = organisasjonsnummer (orgnr, ENH).

Pure functions, no I/O and no settings: a service applies its environment's flags at the edge
(production: ``allow_synthetic=False``; dev/test seeding: ``allow_real=False``). Error messages name
positions and digits, never the whole number; ``PersonId`` prints only its first six digits.
Sex is never derived from a number (it is a separate Folkeregister field, requirement 4).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

_W1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_W2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_W_ORG = (3, 2, 7, 6, 5, 4, 3, 2)


class InvalidIdentifier(ValueError):
    """One English sentence saying what is wrong; it never contains the whole number."""


class PersonIdType(StrEnum):
    """How an 11-digit person id is issued (§6, requirement 2)."""

    fnr = "fnr"  # fødselsnummer, issued by Folkeregisteret
    dnr = "dnr"  # D-number: first digit + 4 (day + 40)
    hnr = "hnr"  # H-number: month + 40 (41–52), issued locally, needs an assigner
    synthetic = "synthetic"  # Skatteetaten/Tenor test number: month + 80 (81–92)


class IdentifierSystem:
    """FHIR ``Identifier.system`` strings, exactly as in §6 (requirement 6)."""

    FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
    DNR = "urn:oid:2.16.578.1.12.4.1.4.2"
    FHN = "urn:oid:2.16.578.1.12.4.1.4.3"  # felles hjelpenummer (national H-number)
    HPR = "urn:oid:2.16.578.1.12.4.1.4.4"
    DUF = "urn:oid:2.16.578.1.12.4.1.4.5"
    ENH = "urn:oid:2.16.578.1.12.4.1.4.101"  # organisation number
    RESH = "urn:oid:2.16.578.1.12.4.1.4.102"
    HER = "urn:oid:2.16.578.1.12.4.1.2"
    HPR_AUTHORIZATION = "urn:oid:2.16.578.1.12.4.1.1.9060"
    MUNICIPALITY = "urn:oid:2.16.578.1.12.4.1.1.3402"  # kommunenummer
    # a local H-number (no-basis): system "HNR", type coding 8327#HNR, assigner mandatory
    HNR = "HNR"
    HNR_TYPE = "urn:oid:2.16.578.1.12.4.1.1.8327"


HNR_TYPE_CODE = "HNR"  # the code in IdentifierSystem.HNR_TYPE, not a system
ALL_SYSTEMS: frozenset[str] = frozenset(
    v for k, v in vars(IdentifierSystem).items() if k.isupper())


def mask(value: str) -> str:
    """``31129956715`` -> ``311299*****``: the birth-date part only, safe for logs."""
    return value[:6] + "*****"


@dataclass(frozen=True, repr=False)
class PersonId:
    """A validated person id; build it with ``parse_person_id``. ``birth_date`` is the date in the
    number with the D/H/test offsets removed, or ``None`` when its individnummer is outside the
    century ranges of §6. ``assigner`` is kept for H-numbers only. No sex field, on purpose."""

    value: str
    type: PersonIdType
    birth_date: date | None
    assigner: str | None = None

    def __str__(self) -> str:
        return mask(self.value)

    def __repr__(self) -> str:
        return (f"PersonId({mask(self.value)!r}, type={self.type.value}, "
                f"birth_date={self.birth_date!r}, assigner={self.assigner!r})")


def _digits(value: object, n: int, what: str) -> list[int]:
    if not isinstance(value, str):
        raise InvalidIdentifier(f"{what} must be given as text, not {type(value).__name__}")
    if len(value) != n:
        raise InvalidIdentifier(f"{what} has {n} digits; got {len(value)} characters")
    bad = next((i for i, c in enumerate(value, 1) if c not in "0123456789"), None)
    if bad is not None:
        raise InvalidIdentifier(f"{what} has only the digits 0-9; position {bad} is not one")
    return [int(c) for c in value]


def _weighted(digits: list[int], weights: tuple[int, ...]) -> int:
    return sum(d * w for d, w in zip(digits, weights))


def check_digits(nine: str) -> tuple[int, int] | None:
    """The two check digits (old rule) for the first nine digits, or ``None`` when either computes
    to 10 (that individnummer cannot be used). §6: k = 11 - (weighted sum mod 11), 11 -> 0."""
    d = _digits(nine, 9, "the first part of a national id number")
    k1 = (11 - _weighted(d, _W1) % 11) % 11
    k2 = (11 - _weighted(d + [k1], _W2) % 11) % 11
    return None if 10 in (k1, k2) else (k1, k2)


def birth_century(individual: int, yy: int) -> int | None:
    """The century from the individnummer ranges of §6 (forskrift om folkeregistrering § 2-2)."""
    if individual <= 499:
        return 1900
    if individual <= 749 and yy >= 54:
        return 1800
    if yy <= 39:
        return 2000
    if individual >= 900:
        return 1900
    return None


def _check(d: list[int], value: str, rule_2032: bool) -> None:
    rest1 = _weighted(d[:10], _W1 + (1,)) % 11  # §6 "equivalent validation", weight 1 on k1
    if rest1 != 0 and not (rule_2032 and rest1 <= 3):
        if rule_2032:
            raise InvalidIdentifier(f"the first check digit of {mask(value)} fails both the "
                                    "old rule and the 2032 rule (remainder 0, 1, 2 or 3)")
        k1 = (11 - _weighted(d[:9], _W1) % 11) % 11
        if k1 == 10:
            raise InvalidIdentifier("the first check digit computes to 10, so no valid number "
                                    "has these nine digits")
        raise InvalidIdentifier(f"the first check digit of {mask(value)} should be {k1}, "
                                f"not {d[9]}")
    k2 = (11 - _weighted(d[:10], _W2) % 11) % 11
    if k2 == 10:
        raise InvalidIdentifier("the second check digit computes to 10, so no valid number "
                                "has these ten digits")
    if k2 != d[10]:
        raise InvalidIdentifier(f"the second check digit of {mask(value)} should be {k2}, "
                                f"not {d[10]}")


def parse_person_id(value: str, *, allow_synthetic: bool = True, allow_real: bool = True,
                    assigner: str | None = None, rule_2032: bool = False) -> PersonId:
    """Validate and classify an fnr, D-, H- or synthetic number (§6, requirements 1–4).

    ``allow_synthetic=False`` (production) refuses test numbers (month + 80); ``allow_real=False``
    (dev/test seeding) accepts only test numbers. Month 41–52 is accepted only as a locally issued
    H-number with its ``assigner``, never as a NAV Dolly test number. ``rule_2032=True`` also
    accepts the 2032 rule (first control remainder 0–3) next to the old one.
    """
    value = value.strip() if isinstance(value, str) else value
    d = _digits(value, 11, "a national id number")
    _check(d, value, rule_2032)
    day, month, yy = d[0] * 10 + d[1], d[2] * 10 + d[3], d[4] * 10 + d[5]
    kind, day = (PersonIdType.dnr, day - 40) if d[0] >= 4 else (PersonIdType.fnr, day)
    if 81 <= month <= 92:
        kind, month = PersonIdType.synthetic, month - 80
    elif 41 <= month <= 52:
        if kind is PersonIdType.dnr:
            raise InvalidIdentifier("a D-number with month + 40 is a NAV Dolly test number, "
                                    "which is not accepted")
        kind, month = PersonIdType.hnr, month - 40
    elif not 1 <= month <= 12:
        raise InvalidIdentifier(f"digits 3-4 ({d[2]}{d[3]}) are not a month: expected 01-12, "
                                "41-52 for an H-number or 81-92 for a test number")
    if kind is PersonIdType.synthetic and not allow_synthetic:
        raise InvalidIdentifier("a test number (month + 80) is refused in production")
    if kind is not PersonIdType.synthetic and not allow_real:
        raise InvalidIdentifier(f"only synthetic test numbers (month + 80) are accepted here; "
                                f"got a real number of type {kind.value}")
    assigner = assigner.strip() if assigner else None
    if kind is PersonIdType.hnr and not assigner:
        raise InvalidIdentifier("an H-number (month + 40) needs the assigner that issued it")
    century = birth_century(d[6] * 100 + d[7] * 10 + d[8], yy)
    # undetermined century: yy is never 00 there, so 2000 + yy has the right leap-year status
    year = (century if century is not None else 2000) + yy
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise InvalidIdentifier(f"day {day} is not a valid day of month {month}"
                                + (f" in {year}" if century is not None else ""))
    return PersonId(value, kind, date(year, month, day) if century is not None else None,
                    assigner if kind is PersonIdType.hnr else None)


def validate_orgnr(value: str) -> str:
    """An organisation number: 9 digits, weights 3,2,7,6,5,4,3,2 mod 11; remainder 0 -> check
    digit 0, remainder 1 -> invalid (§6, requirement 5). Returns the number."""
    value = value.strip() if isinstance(value, str) else value
    d = _digits(value, 9, "an organisation number")
    rest = _weighted(d, _W_ORG) % 11
    if rest == 1:
        raise InvalidIdentifier("the check digit of an organisation number with these first "
                                "eight digits computes to 10, so none is valid")
    k = (11 - rest) % 11
    if k != d[8]:
        raise InvalidIdentifier(f"the check digit (position 9) of an organisation number "
                                f"should be {k}, not {d[8]}")
    return value


def make_synthetic(birth: date, individual: int) -> str | None:
    """A Tenor-style test number (month + 80) for ``birth``, or ``None`` when the check digits
    compute to 10. ``individual`` must lie in the §6 individnummer range for the birth year."""
    yy = birth.year % 100
    if not 0 <= individual <= 999 or birth_century(individual, yy) != birth.year - yy:
        raise ValueError(f"individnummer {individual} does not belong to year {birth.year}")
    nine = f"{birth.day:02d}{birth.month + 80:02d}{yy:02d}{individual:03d}"
    ks = check_digits(nine)
    return None if ks is None else f"{nine}{ks[0]}{ks[1]}"


def synthetic_number(birth: date, slot: int = 0) -> str:
    """A valid test number for ``birth`` (demo data, fixtures); ``slot`` picks another
    individnummer, so two people born the same day get different numbers."""
    numbers = []
    for individual in range(1000):
        if birth_century(individual, birth.year % 100) == birth.year - birth.year % 100:
            n = make_synthetic(birth, individual)
            if n is not None:
                numbers.append(n)
    if not numbers:
        raise ValueError(f"no test numbers exist for year {birth.year}")
    return numbers[slot * 7 % len(numbers)]


def system_for(pid: PersonId) -> str:
    """The FHIR ``Identifier.system`` for a person id; a test number uses FNR or DNR by its
    first digit; an H-number uses the local "HNR" system (its assigner is mandatory)."""
    if pid.type is PersonIdType.hnr:
        return IdentifierSystem.HNR
    if pid.type is PersonIdType.dnr or int(pid.value[0]) >= 4:
        return IdentifierSystem.DNR
    return IdentifierSystem.FNR


def _pydantic(check, error_type: str):
    def validate(value: object) -> str:
        try:
            return check(value)
        except InvalidIdentifier as e:  # no "Value error, " prefix: the sentence is the message
            raise PydanticCustomError(error_type, str(e)) from None
    return validate


def parse_hpr(value: object) -> str:
    """An HPR number (Helsepersonellregisteret) in its canonical form: the number without leading
    zeros, 1 to 9 digits, never 0. ``"07654321"`` and ``7654321`` are the same person as
    ``"7654321"``: parse once at the edge, compare only what this returns."""
    return _canonical_number(value, "an HPR number")


def parse_her_id(value: object) -> str:
    """A HER-id (Adresseregisteret) in its canonical form: 1 to 9 digits, no leading zeros."""
    return _canonical_number(value, "a HER-id")


def _canonical_number(value: object, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidIdentifier(f"{what} must be given as digits, not {type(value).__name__}")
    text = str(value)
    if not 1 <= len(text) <= 12 or not all(c in "0123456789" for c in text):
        raise InvalidIdentifier(f"{what} has only the digits 0-9 (1 to 9 of them, leading "
                                f"zeros aside)")
    canonical = text.lstrip("0")
    if not 1 <= len(canonical) <= 9:
        raise InvalidIdentifier(f"{what} is a number from 1 to 999999999")
    return canonical


OrgNr = Annotated[str, AfterValidator(_pydantic(validate_orgnr, "invalid_orgnr"))]
"""A request field holding an organisation number; a bad one is a readable 422."""

Hpr = Annotated[str, BeforeValidator(_pydantic(parse_hpr, "invalid_hpr"))]
"""An HPR number, canonical after validation (``"07654321"`` -> ``"7654321"``): every stored or
compared HPR number is of this type."""

HerId = Annotated[str, BeforeValidator(_pydantic(parse_her_id, "invalid_her_id"))]
"""A HER-id, canonical after validation (no leading zeros)."""

NationalId = Annotated[
    str, AfterValidator(_pydantic(lambda v: parse_person_id(v).value, "invalid_national_id"))]
"""A request field holding an fnr, D-number or test number, checked with the default flags.
Services apply their environment's flags (production refuses test numbers, seeding accepts only
test numbers) with ``parse_person_id`` at the edge. An H-number fails here: it needs its
assigner, so take it as two fields and call ``parse_person_id(..., assigner=...)``."""
