"""Organisation numbers (mod 11), the FHIR identifier systems (requirement 6), identifier
fields in request models, and the one canonical form of HPR numbers and HER-ids (issue 12)."""

from __future__ import annotations
from tests.access.test_identifiers import SYNTHETIC, first_valid


import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from libs.kernel.identifiers import (
    ALL_SYSTEMS, HerId, Hpr, InvalidIdentifier, NationalId, OrgNr, parse_her_id, parse_hpr, validate_orgnr,
)


# -- organisation numbers ----------------------------------------------------------------------
def org_rest(eight: str) -> int:
    return sum(int(c) * w for c, w in zip(eight, (3, 2, 7, 6, 5, 4, 3, 2))) % 11


def test_orgnr_example_is_valid_and_a_wrong_check_digit_is_not():
    assert validate_orgnr("123456785") == "123456785"
    with pytest.raises(InvalidIdentifier, match=r"^the check digit \(position 9\) of an "
                       "organisation number should be 5, not 4$"):
        validate_orgnr("123456784")


def test_orgnr_remainder_zero_gives_check_digit_zero_and_remainder_one_is_invalid():
    zero = next(e for e in (f"{n:08d}" for n in range(10**7, 10**8, 7)) if org_rest(e) == 0)
    assert validate_orgnr(zero + "0") == zero + "0"
    one = next(e for e in (f"{n:08d}" for n in range(10**7, 10**8, 7)) if org_rest(e) == 1)
    for last in "0123456789":
        with pytest.raises(InvalidIdentifier, match="computes to 10"):
            validate_orgnr(one + last)


@pytest.mark.parametrize(("value", "message"), [
    ("12345678", "an organisation number has 9 digits; got 8 characters"),
    ("1234567850", "an organisation number has 9 digits; got 10 characters"),
    ("123 456 785", "an organisation number has 9 digits; got 11 characters"),
    ("12345678x", "an organisation number has only the digits 0-9; position 9 is not one"),
])
def test_malformed_orgnr_is_described(value: str, message: str):
    with pytest.raises(InvalidIdentifier) as exc:
        validate_orgnr(value)
    assert str(exc.value) == message


# -- FHIR systems (requirement 6) --------------------------------------------------------------
def test_all_systems_are_exactly_the_documented_ones():
    assert ALL_SYSTEMS == {
        "urn:oid:2.16.578.1.12.4.1.4.1", "urn:oid:2.16.578.1.12.4.1.4.2",
        "urn:oid:2.16.578.1.12.4.1.4.3", "urn:oid:2.16.578.1.12.4.1.4.4",
        "urn:oid:2.16.578.1.12.4.1.4.5", "urn:oid:2.16.578.1.12.4.1.4.101",
        "urn:oid:2.16.578.1.12.4.1.4.102", "urn:oid:2.16.578.1.12.4.1.2",
        "urn:oid:2.16.578.1.12.4.1.1.9060", "urn:oid:2.16.578.1.12.4.1.1.3402",
        "urn:oid:2.16.578.1.12.4.1.1.8327", "HNR",
    }


# -- pydantic request models -------------------------------------------------------------------
class Registration(BaseModel):
    provider: OrgNr
    patient: NationalId


def test_a_bad_orgnr_becomes_a_readable_validation_error():
    with pytest.raises(ValidationError) as exc:
        Registration(provider="123456784", patient=SYNTHETIC)
    [err] = exc.value.errors()
    assert err["loc"] == ("provider",)
    assert err["type"] == "invalid_orgnr"
    assert err["msg"] == "the check digit (position 9) of an organisation number should be 5, not 4"


def test_national_id_field_uses_default_flags_and_never_names_the_number():
    assert Registration(provider="123456785", patient=f" {SYNTHETIC} ").patient == SYNTHETIC
    with pytest.raises(ValidationError) as exc:
        Registration(provider="123456785", patient="31129956716")
    [err] = exc.value.errors()
    assert (err["type"], err["msg"]) == (
        "invalid_national_id", "the second check digit of 311299***** should be 5, not 6")
    with pytest.raises(ValidationError, match="needs the assigner"):
        Registration(provider="123456785", patient=first_valid("154345", range(500)))


# --- HPR numbers and HER-ids: one canonical form (issue 12) ----------------------------------

@pytest.mark.parametrize("value", ["7654321", "07654321", "0007654321", 7654321])
def test_an_hpr_number_has_one_canonical_form(value):
    assert parse_hpr(value) == "7654321"


@pytest.mark.parametrize("value", ["", "0", "000", "12345678901", "1234567890", "76 54321",
                                   " 7654321", "7654321\n", "HPR-7654321", "٧٦٥٤٣٢١", True,
                                   None, 7.0, [], "+7654321", "-1"])
def test_anything_else_is_not_an_hpr_number(value):
    with pytest.raises(InvalidIdentifier):
        parse_hpr(value)


def test_canonical_types_validate_once_at_the_edge():
    class Body(BaseModel):
        hpr: Hpr
        her: HerId

    body = Body(hpr="09144889", her="08140001")
    assert (body.hpr, body.her) == ("9144889", "8140001")
    assert Body.model_json_schema()["properties"]["hpr"]["type"] == "string"
    with pytest.raises(ValidationError) as exc:
        Body(hpr="91-44", her="1")
    assert "an HPR number" in str(exc.value) and "Value error" not in str(exc.value)
    assert parse_her_id(8140001) == "8140001"


@given(st.integers(min_value=1, max_value=999_999_999), st.integers(min_value=0, max_value=3))
def test_leading_zeros_never_make_another_hpr_number(number, zeros):
    assert parse_hpr("0" * zeros + str(number)) == parse_hpr(number) == str(number)
