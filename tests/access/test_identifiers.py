"""Norwegian identifiers (DOMAIN.md §6, requirements 1–6 of §11). Pure and fast: no fixtures.

Expected check digits are computed here from the §6 "equivalent validation" sums, which are
written independently of the module's k1/k2 formulas, never copied from its output.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from libs.kernel.identifiers import (
    IdentifierSystem, InvalidIdentifier, PersonId,
    PersonIdType, check_digits, make_synthetic, parse_person_id,
    system_for,
)

TEXTBOOK = "31129956715"  # §6 worked example: born 31.12.1899 (individnummer 567)
# §6 gives 15958512004 as "Tenor-style, born 15.05.1985", but its digits 3-4 are 95, not
# 05 + 80 = 85. The same date and individnummer with month + 80, check digits recomputed:
SYNTHETIC = "15858512066"
W1 = (3, 7, 6, 1, 8, 9, 4, 5, 2, 1)
W2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2, 1)


def rest(number: str, weights: tuple[int, ...]) -> int:
    return sum(int(c) * w for c, w in zip(number, weights)) % 11


def sums_ok(number: str, rule_2032: bool = False) -> bool:
    """§6: Σ(d1..k1)·W1 ≡ 0 (0–3 under the 2032 rule) and Σ(d1..k2)·W2 ≡ 0 (mod 11)."""
    return rest(number, W1) in ((0, 1, 2, 3) if rule_2032 else (0,)) and rest(number, W2) == 0


def complete(nine: str) -> str | None:
    """The one old-rule number starting with ``nine``, found by trying all 100 endings."""
    found = [nine + f"{k:02d}" for k in range(100) if sums_ok(nine + f"{k:02d}")]
    assert len(found) <= 1
    return found[0] if found else None


def first_valid(ddmmyy: str, individuals: range) -> str:
    return next(n for i in individuals if (n := complete(f"{ddmmyy}{i:03d}")))


def mutations(number: str):
    for pos in range(11):
        for digit in "0123456789":
            if digit != number[pos]:
                yield number[:pos] + digit + number[pos + 1:]


def error(value: str, **kw) -> str:
    with pytest.raises(InvalidIdentifier) as exc:
        parse_person_id(value, **kw)
    assert value.strip() not in str(exc.value)
    assert not re.search(r"\d{11}", str(exc.value))
    return str(exc.value)


# -- check digits ------------------------------------------------------------------------------
def test_textbook_vector_is_a_valid_fnr_born_1899():
    assert check_digits("311299567") == (1, 5) and sums_ok(TEXTBOOK)
    pid = parse_person_id(TEXTBOOK)
    assert (pid.value, pid.type, pid.birth_date) == (TEXTBOOK, PersonIdType.fnr, date(1899, 12, 31))
    assert system_for(pid) == IdentifierSystem.FNR


def test_synthetic_vector_is_classified_synthetic_with_its_birth_date():
    assert make_synthetic(date(1985, 5, 15), 120) == SYNTHETIC and sums_ok(SYNTHETIC)
    pid = parse_person_id(SYNTHETIC)
    assert (pid.type, pid.birth_date) == (PersonIdType.synthetic, date(1985, 5, 15))
    assert system_for(pid) == IdentifierSystem.FNR


def test_the_documented_synthetic_example_has_good_check_digits_but_month_95():
    assert check_digits("159585120") == (0, 4) and sums_ok("15958512004")
    assert "are not a month" in error("15958512004")


@pytest.mark.parametrize("valid", [TEXTBOOK, SYNTHETIC])
@pytest.mark.parametrize("rule_2032", [False, True])
def test_every_one_digit_mutation_is_invalid(valid: str, rule_2032: bool):
    # all W2 weights are non-zero mod 11 (a prime), so the second sum always catches one change
    changed = list(mutations(valid))
    assert len(changed) == 99
    assert [m for m in changed if sums_ok(m, rule_2032)] == []
    for m in changed:
        error(m, assigner="Testkommune", rule_2032=rule_2032)


def test_a_first_check_digit_computing_to_ten_is_rejected():
    nine = next(f"010190{i:03d}" for i in range(500) if rest(f"010190{i:03d}0", W1) == 1)
    assert check_digits(nine) is None
    for ending in ("00", "15", "99"):
        assert error(nine + ending) == ("the first check digit computes to 10, so no valid "
                                        "number has these nine digits")


def test_a_second_check_digit_computing_to_ten_is_rejected():
    ten = next(t for i in range(500) for k in range(10)
               if rest(t := f"010190{i:03d}{k}", W1) == 0 and rest(t + "0", W2) == 1)
    assert check_digits(ten[:9]) is None
    assert "second check digit computes to 10" in error(ten + "0")


def test_a_wrong_check_digit_names_the_right_one_without_the_number():
    assert error("31129956716") == "the second check digit of 311299***** should be 5, not 6"
    assert error("31129956705") == "the first check digit of 311299***** should be 1, not 0"


@pytest.mark.parametrize(("value", "message"), [
    ("3112995671", "a national id number has 11 digits; got 10 characters"),
    ("311299567150", "a national id number has 11 digits; got 12 characters"),
    ("311299-6715", "a national id number has only the digits 0-9; position 7 is not one"),
    ("31129956\u0661\u0665\u0660", "a national id number has only the digits 0-9; position 9 "
     "is not one"),  # Arabic-Indic digits pass str.isdigit()
])
def test_malformed_input_is_described(value: str, message: str):
    assert error(value) == message


def test_non_text_and_surrounding_whitespace():
    with pytest.raises(InvalidIdentifier, match="must be given as text"):
        parse_person_id(31129956715)  # type: ignore[arg-type]
    assert parse_person_id(f" {TEXTBOOK}\n").value == TEXTBOOK


# -- classification ----------------------------------------------------------------------------
def test_d_number_is_day_plus_40_with_the_right_birth_date():
    number = first_valid("550375", range(500))
    pid = parse_person_id(number)
    assert (pid.type, pid.birth_date) == (PersonIdType.dnr, date(1975, 3, 15))
    assert system_for(pid) == IdentifierSystem.DNR


def test_h_number_is_accepted_only_with_an_assigner():
    number = first_valid("154345", range(500))
    assert error(number) == "an H-number (month + 40) needs the assigner that issued it"
    assert error(number, assigner="  ") == error(number)
    pid = parse_person_id(number, assigner="Oslo kommune")
    assert (pid.type, pid.birth_date, pid.assigner) == (
        PersonIdType.hnr, date(1945, 3, 15), "Oslo kommune")
    assert system_for(pid) == IdentifierSystem.HNR


def test_a_dolly_d_number_with_month_plus_40_is_never_accepted():
    number = first_valid("554345", range(500))
    assert "Dolly" in error(number, assigner="Oslo kommune")


def test_a_synthetic_d_number_counts_as_synthetic():
    number = first_valid("558575", range(500))
    pid = parse_person_id(number, allow_real=False)
    assert (pid.type, pid.birth_date) == (PersonIdType.synthetic, date(1975, 5, 15))
    assert system_for(pid) == IdentifierSystem.DNR


def test_assigner_is_kept_for_h_numbers_only():
    assert parse_person_id(TEXTBOOK, assigner="Oslo kommune").assigner is None


# -- environment flags -------------------------------------------------------------------------
def test_production_refuses_synthetic_numbers_but_accepts_real_ones():
    assert error(SYNTHETIC, allow_synthetic=False) == ("a test number (month + 80) is refused "
                                                       "in production")
    assert parse_person_id(TEXTBOOK, allow_synthetic=False).type is PersonIdType.fnr


def test_seeding_accepts_only_synthetic_numbers():
    assert "only synthetic test numbers" in error(TEXTBOOK, allow_real=False)
    assert "type dnr" in error(first_valid("550375", range(500)), allow_real=False)
    assert "type hnr" in error(first_valid("154345", range(500)), allow_real=False,
                               assigner="Oslo kommune")
    assert parse_person_id(SYNTHETIC, allow_real=False).type is PersonIdType.synthetic


# -- the 2032 rule -----------------------------------------------------------------------------
def new_rule_numbers(nine: str) -> dict[int, str]:
    """For first-control remainders 1, 2 and 3: the number with that remainder, where one exists."""
    out = {}
    for k1 in range(10):
        r = rest(f"{nine}{k1}", W1)
        k2 = (11 - rest(f"{nine}{k1}", W2)) % 11
        if r in (1, 2, 3) and k2 != 10:
            out[r] = f"{nine}{k1}{k2}"
    return out


def test_2032_rule_accepts_first_remainders_1_to_3_only_behind_its_flag():
    numbers = new_rule_numbers("311299567")
    assert numbers  # k1 takes ten values, so at most one remainder of 1..3 is out of reach
    for r, number in numbers.items():
        assert rest(number, W1) == r and rest(number, W2) == 0
        assert "first check digit" in error(number)
        assert parse_person_id(number, rule_2032=True).birth_date == date(1899, 12, 31)
    assert parse_person_id(TEXTBOOK, rule_2032=True).type is PersonIdType.fnr  # both rules


def test_2032_rule_rescues_nine_digits_whose_old_first_check_digit_is_ten():
    nine = next(f"010190{i:03d}" for i in range(500) if rest(f"010190{i:03d}0", W1) == 1)
    assert check_digits(nine) is None
    numbers = new_rule_numbers(nine)
    assert numbers
    for number in numbers.values():
        assert parse_person_id(number, rule_2032=True).birth_date == date(1990, 1, 1)
    k1 = next(k for k in range(10) if rest(f"{nine}{k}", W1) > 3)
    assert error(f"{nine}{k1}0", rule_2032=True) == (
        "the first check digit of 010190***** fails both the old rule and the 2032 rule "
        "(remainder 0, 1, 2 or 3)")


# -- dates -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("ddmmyy", "individuals", "message"), [
    ("320199", range(500), "day 32 is not a valid day of month 1 in 1999"),
    ("720199", range(500), "day 32 is not a valid day of month 1 in 1999"),  # D-number
    ("290200", range(500), "day 29 is not a valid day of month 2 in 1900"),
    ("290299", range(500), "day 29 is not a valid day of month 2 in 1999"),
    ("000199", range(500), "day 0 is not a valid day of month 1 in 1999"),
    ("311399", range(500), "digits 3-4 (13) are not a month: expected 01-12, 41-52 for an "
                           "H-number or 81-92 for a test number"),
])
def test_the_date_part_is_validated(ddmmyy: str, individuals: range, message: str):
    assert error(first_valid(ddmmyy, individuals), assigner="x") == message


def test_leap_day_depends_on_the_century_from_the_individnummer():
    assert parse_person_id(first_valid("290200", range(500, 1000))).birth_date == date(2000, 2, 29)


def test_an_individnummer_outside_the_century_ranges_gives_no_birth_date():
    assert parse_person_id(first_valid("010170", range(750, 900))).birth_date is None


# -- safe to log, no sex -----------------------------------------------------------------------
def test_person_id_prints_masked_and_has_no_sex_field():
    pid = parse_person_id(TEXTBOOK)
    assert str(pid) == "311299*****"
    assert TEXTBOOK not in repr(pid) and "311299*****" in repr(pid)
    names = {f.name for f in dataclasses.fields(PersonId)}
    assert names == {"value", "type", "birth_date", "assigner"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        pid.value = SYNTHETIC  # type: ignore[misc]


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_no_error_message_contains_the_number(value: str):
    try:
        parse_person_id(value, allow_synthetic=False)
    except InvalidIdentifier as e:
        assert value not in str(e) and not re.search(r"\d{11}", str(e))


# -- properties --------------------------------------------------------------------------------
def individuals_for(year: int) -> st.SearchStrategy[int]:
    """§6 individnummer ranges for a birth year."""
    if year < 1900:
        return st.integers(500, 749)
    if year < 1940:
        return st.integers(0, 499)
    if year < 2000:
        return st.integers(0, 499) | st.integers(900, 999)
    return st.integers(500, 999)


births = st.dates(date(1854, 1, 1), date(2039, 12, 31)).flatmap(
    lambda d: st.tuples(st.just(d), individuals_for(d.year)))


@given(births)
def test_make_synthetic_round_trips_through_parse(birth_and_individual):
    birth, individual = birth_and_individual
    number = make_synthetic(birth, individual)
    assume(number is not None)
    assert sums_ok(number)
    pid = parse_person_id(number, allow_real=False)
    assert (pid.type, pid.birth_date) == (PersonIdType.synthetic, birth)


@given(births, st.integers(0, 10), st.integers(1, 9), st.booleans())
def test_any_single_digit_change_of_a_valid_number_is_invalid(
        birth_and_individual, pos: int, shift: int, rule_2032: bool):
    birth, individual = birth_and_individual
    nine = f"{birth:%d%m%y}{individual:03d}"
    ks = check_digits(nine)
    assume(ks is not None)
    number = f"{nine}{ks[0]}{ks[1]}"
    assert complete(nine) == number
    assert parse_person_id(number).birth_date == birth
    changed = number[:pos] + str((int(number[pos]) + shift) % 10) + number[pos + 1:]
    with pytest.raises(InvalidIdentifier):
        parse_person_id(changed, assigner="Testkommune", rule_2032=rule_2032)


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_check_digits_agree_with_the_equivalent_sums(nine: str):
    ks = check_digits(nine)
    assert (ks is not None) == (complete(nine) is not None)
    if ks is not None:
        assert complete(nine) == f"{nine}{ks[0]}{ks[1]}"


def test_make_synthetic_refuses_an_individnummer_from_another_century():
    with pytest.raises(ValueError, match="does not belong to year 1985"):
        make_synthetic(date(1985, 5, 15), 600)
