"""A national id in a FHIR ``identifier`` search, parsed once at the edge: each Norwegian
system and its kind of number, the number written with a space, and readable refusals that
never repeat the number."""

from __future__ import annotations

from datetime import date

import pytest

from libs.kernel.identifiers import IdentifierSystem, PersonIdType, synthetic_number
from libs.web.fhir.identifiers import person_identifier
from libs.web.fhir.search import SearchParameterError

FNR = "03010012324"            # a fødselsnummer (valid check digits)
DNR = "43010012318"            # the same date as a D-number
HNR = "03410012307"            # an H-number (month + 40)
TEST = synthetic_number(date(1941, 3, 2))


@pytest.mark.parametrize("system, number, kind", [
    (IdentifierSystem.FNR, FNR, PersonIdType.fnr),
    (IdentifierSystem.DNR, DNR, PersonIdType.dnr),
    (IdentifierSystem.HNR, HNR, PersonIdType.hnr),
    (IdentifierSystem.FHN, HNR, PersonIdType.hnr),
    (IdentifierSystem.FNR, TEST, PersonIdType.synthetic),
])
def test_each_system_finds_its_kind_of_number(system, number, kind):
    pid = person_identifier(f"{system}|{number}")
    assert (pid.value, pid.type) == (number, kind)


def test_a_number_without_a_system_or_written_with_a_space_is_the_same_number():
    assert person_identifier(FNR).value == FNR
    assert person_identifier(f"{IdentifierSystem.FNR}|{FNR[:6]} {FNR[6:]}").value == FNR


@pytest.mark.parametrize("raw, says", [
    (f"{IdentifierSystem.DNR}|{FNR}", "is a fødselsnummer, not one of system"),
    (f"{IdentifierSystem.FNR}|{DNR}", "is a D-number, not one of system"),
    (f"{IdentifierSystem.FNR}|{HNR}", "is an H-number, not one of system"),
    (f"{IdentifierSystem.HPR}|{FNR}", "national id number, with one of the systems"),
    (f"{IdentifierSystem.FNR}|{FNR[:-1]}{(int(FNR[-1]) + 1) % 10}", "second check digit"),
    (f"{IdentifierSystem.FNR}|{FNR},{DNR}", "one national id number at a time"),
    (f"{IdentifierSystem.FNR}|", "has 11 digits"),
])
def test_a_wrong_identifier_is_refused_in_words_that_never_repeat_the_number(raw, says):
    with pytest.raises(SearchParameterError) as refused:
        person_identifier(raw)
    assert says in str(refused.value)
    assert FNR not in str(refused.value) and DNR not in str(refused.value)
