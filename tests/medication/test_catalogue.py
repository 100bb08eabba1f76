"""The drug catalogue: the shipped sample, lookups, interactions, and the pure load plan."""

from __future__ import annotations

import copy
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import services.medication.catalogue as catalogue
from services.medication.catalogue import (
    CatalogueError,
    Level,
    Product,
    UnknownProduct,
    apply_plan,
    atc_level,
    parse_extract,
    plan_load,
    read_sample,
    sample_catalogue,
    sample_extract,
)

DATA = Path(catalogue.__file__).resolve().parent / "data"
REPO = Path(__file__).resolve().parents[2]


def named(display: str) -> Product:
    """A sample product by its display name (NavnFormStyrke), e.g. ``"Marevan tab 2,5 mg"``."""
    found = [p for p in sample_catalogue().products.values() if p.name_form_strength == display]
    assert len(found) == 1, display
    return found[0]


def raw_with(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(read_sample())
    raw["extract"].update(changes)
    return raw


# --- the shipped sample ----------------------------------------------------------------------


def test_sample_parses_and_says_loudly_that_it_is_sample_data() -> None:
    extract = sample_extract()
    header = extract.header
    assert header.sample is True
    assert "NOT an extract from FEST" in header.notice and "NOT for clinical use" in header.notice
    assert header.extract_date == date(2026, 11, 29)
    assert len(extract.products) == 50  # requirement 37: at most 50 products
    assert len(extract.interactions) >= 25
    source = (DATA / "SOURCE.md").read_text(encoding="utf-8")
    assert "`sample_fest.json`" in source and "NOT FROM FEST, NOT FOR CLINICAL USE" in source
    assert "Licence" in source


def test_sample_is_package_data() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["services.medication.catalogue"]
    package = DATA.parent
    shipped = {p.relative_to(package).as_posix() for pat in patterns for p in package.glob(pat)}
    assert {"data/sample_fest.json", "data/SOURCE.md"} <= shipped


@pytest.mark.parametrize(
    ("code", "level"),
    [("N", 1), ("N02", 2), ("N02B", 3), ("N02BE", 4), ("N02BE01", 5), ("A12AX", 4),
     ("n02be01", None), ("N02BE1", None), ("X02BE01", None), ("N2BE01", None), ("", None),
     ("N02BE011", None)],
)
def test_atc_levels(code: str, level: int | None) -> None:
    assert atc_level(code) == level


def test_every_atc_code_is_well_formed() -> None:
    extract = sample_extract()
    assert all(atc_level(s.atc) == 5 for s in extract.substances)
    assert all(atc_level(p.atc) in (4, 5) for p in extract.products)
    members = [m for i in extract.interactions for g in i.groups for m in g]
    assert all(atc_level(m.atc) is not None for m in members)


@pytest.mark.parametrize(
    ("display", "atc"),
    [("Paracet tab 500 mg", "N02BE01"), ("Marevan tab 2,5 mg", "B01AA03"),
     ("Eliquis tab 5 mg", "B01AF02"), ("Zocor tab 20 mg", "C10AA01"),
     ("Glucophage tab 500 mg", "A10BA02"), ("Cipramil tab 20 mg", "N06AB04"),
     ("Klacid tab 250 mg", "J01FA09"), ("Digoksin tab 0,25 mg", "C01AA05"),
     ("Paralgin forte tab 400/30 mg", "N02AJ06")],
)
def test_known_products_carry_their_who_atc_code(display: str, atc: str) -> None:
    assert named(display).atc == atc


def test_every_interaction_names_substances_of_the_catalogue() -> None:
    cat = sample_catalogue()
    by_atc = {s.atc: s for s in cat.substances.values()}
    for interaction in cat.interactions.values():
        first, second = ({m.atc for m in g} for g in interaction.groups)
        assert not first & second, interaction.consequence
        for group in interaction.groups:
            for member in group:
                assert member.atc in by_atc, member
                assert by_atc[member.atc].name == member.substance
                assert cat.by_atc(member.atc), f"no product contains {member.substance}"


def test_every_product_has_a_sample_maximum_or_says_why_not() -> None:
    mass = {"mg", "µg", "g"}
    for product in sample_extract().products:
        assert product.packages, product.name
        dose = product.max_daily_dose
        if dose is None:
            assert product.dosing_note, product.name
            continue
        assert dose.sample is True, product.name
        if dose.unit in mass and len(product.ingredients) == 1:
            assert dose.unit == product.ingredients[0].unit, product.name


# --- lookups ---------------------------------------------------------------------------------


def test_lookups_by_id_atc_and_substance() -> None:
    cat = sample_catalogue()
    paralgin = named("Paralgin forte tab 400/30 mg")
    assert cat.product(paralgin.id) == paralgin == cat.require_product(paralgin.id)
    assert [s.name for s in cat.substances_of(paralgin.id)] == ["paracetamol", "kodein"]
    assert cat.atc_codes(paralgin) == {"N02AJ06", "N02BE01", "R05DA04"}
    assert {p.name for p in cat.by_atc("C10AA")} == {"Zocor", "Lipitor"}
    paracetamol = {p.name_form_strength for p in cat.by_atc("N02BE01")}
    assert paracetamol == {"Paracet tab 500 mg", "Paracet stikkpiller 1000 mg",
                           "Paralgin forte tab 400/30 mg"}
    assert cat.product("ID_00000000-0000-0000-0000-000000000000") is None
    with pytest.raises(UnknownProduct, match="is not in the drug catalogue"):
        cat.require_product("ID_00000000-0000-0000-0000-000000000000")
    with pytest.raises(CatalogueError, match="not a well-formed ATC code"):
        cat.by_atc("statin")


# --- interactions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "label", "label_en", "alerts"),
    [(1, "Bør unngås", "avoid", True),
     (2, "Forholdsregler bør tas", "take precautions", True),
     (3, "Ingen tiltak nødvendig", "no action needed", False)],
)
def test_levels_and_labels(level: int, label: str, label_en: str, alerts: bool) -> None:
    assert (Level(level).label, Level(level).label_en, Level(level).alerts) == (
        label, label_en, alerts)
    assert any(i.level == level for i in sample_catalogue().interactions.values())


@pytest.mark.parametrize(
    ("first", "second", "level"),
    [("Marevan tab 2,5 mg", "Ibux tab 400 mg", Level.AVOID),
     ("Marevan tab 2,5 mg", "Klacid tab 250 mg", Level.PRECAUTIONS),
     ("Zocor tab 20 mg", "Klacid tab 250 mg", Level.AVOID),
     ("Zoloft tab 50 mg", "Voltaren enterotab 50 mg", Level.PRECAUTIONS),
     ("Nobligan kaps 50 mg", "Cipramil tab 20 mg", Level.PRECAUTIONS),
     ("Digoksin tab 0,25 mg", "Spirix tab 25 mg", Level.PRECAUTIONS),
     ("Spirix tab 25 mg", "Kalium Retard depottab 750 mg", Level.AVOID),
     ("Plavix tab 75 mg", "Losec enterokaps 20 mg", Level.AVOID),
     ("Plavix tab 75 mg", "Somac enterotab 40 mg", Level.NO_ACTION),
     # a combination product interacts through its codeine
     ("Paralgin forte tab 400/30 mg", "Sobril tab 10 mg", Level.PRECAUTIONS)],
)
def test_known_pairs_interact_at_their_level_in_either_order(
    first: str, second: str, level: Level
) -> None:
    cat = sample_catalogue()
    for pair in ((named(first), named(second)), (named(second), named(first))):
        hits = cat.interactions_between(pair)
        assert [h.level for h in hits] == [level]
        assert hits[0].products == pair and hits[0].alerts is level.alerts


def test_interactions_between_many_products_avoid_first_each_pair_once() -> None:
    cat = sample_catalogue()
    marevan, ibux, klacid = (named(d) for d in (
        "Marevan tab 2,5 mg", "Ibux tab 400 mg", "Klacid tab 250 mg"))
    paracet = named("Paracet tab 500 mg")
    hits = cat.interactions_between([paracet.id, marevan, ibux, klacid, ibux.id])
    assert [(h.level, h.products[0].name, h.products[1].name) for h in hits] == [
        (Level.AVOID, "Marevan", "Ibux"), (Level.PRECAUTIONS, "Marevan", "Klacid")]
    assert hits[0].atc == ("B01AA03", "M01AE01")
    assert cat.interactions_between([marevan]) == ()
    assert cat.interactions_between([paracet, named("Paralgin forte tab 400/30 mg")]) == ()


def test_the_sample_has_no_interaction_without_a_product_pair() -> None:
    cat = sample_catalogue()
    found = {h.interaction.id for h in cat.interactions_between(cat.products.values())}
    assert found == set(cat.interactions)


# --- loading ---------------------------------------------------------------------------------


def changed_extract(extract_date: str = "2026-12-15") -> tuple[dict[str, Any], str, str]:
    """The sample a fortnight later without Valium and with Ibux's maximum lowered."""
    raw = raw_with(extract_date=extract_date)
    valium, ibux = named("Valium tab 5 mg"), named("Ibux tab 400 mg")
    raw["products"] = [p for p in raw["products"] if p["id"] != valium.id]
    for p in raw["products"]:
        if p["id"] == ibux.id:
            p["max_daily_dose"]["amount"] = 1200
    return raw, valium.id, ibux.id


def test_a_plan_on_an_empty_state_adds_everything() -> None:
    plan = plan_load(None, sample_extract())
    assert plan.counts()["products"] == {"added": 50, "changed": 0, "restored": 0,
                                         "unchanged": 0, "expired": 0, "still_expired": 0}
    assert len(plan.substances.added) == 50 and len(plan.interactions.added) == 30
    assert plan.previous is None and plan.extract_date == date(2026, 11, 29)
    assert not plan.is_noop
    loaded = apply_plan(None, plan)
    assert loaded == sample_catalogue() and loaded.expired == {}
    assert "products 50 added" in plan.summary() and "(sample)" in plan.summary()


def test_loading_the_same_extract_again_changes_nothing() -> None:
    loaded = sample_catalogue()
    again = plan_load(loaded, parse_extract(read_sample()))
    assert again.is_noop
    assert again.counts()["products"]["unchanged"] == 50
    assert not again.products.writes and not again.products.expired
    assert apply_plan(loaded, again) == loaded


def test_a_product_missing_from_a_new_extract_expires_and_a_changed_one_is_updated() -> None:
    before = sample_catalogue()
    raw, valium_id, ibux_id = changed_extract()
    plan = plan_load(before, parse_extract(raw))
    assert plan.counts()["products"] == {"added": 0, "changed": 1, "restored": 0,
                                         "unchanged": 48, "expired": 1, "still_expired": 0}
    assert plan.products.expired == (valium_id,)
    assert [p.id for p in plan.products.changed] == [ibux_id]
    assert plan.counts()["substances"]["unchanged"] == 50  # diazepam is still in the extract

    after = apply_plan(before, plan)
    assert after.extract_date == date(2026, 12, 15)
    assert len(after.products) == 50  # never deleted
    assert after.product(valium_id) == before.product(valium_id)
    assert after.is_expired(valium_id) and after.expired == {valium_id: date(2026, 12, 15)}
    assert valium_id not in {p.id for p in after.active_products()}
    assert after.by_atc("N05BA01") == ()
    assert [p.id for p in after.by_atc("N05BA01", include_expired=True)] == [valium_id]
    assert after.require_product(ibux_id).max_daily_dose.amount == 1200
    assert plan_load(after, parse_extract(raw)).is_noop  # idempotent after the change too


def test_an_expired_product_keeps_its_date_and_comes_back_when_listed_again() -> None:
    raw, valium_id, _ = changed_extract()
    first = apply_plan(sample_catalogue(), plan_load(sample_catalogue(), parse_extract(raw)))
    raw["extract"]["extract_date"] = "2027-01-01"
    still = plan_load(first, parse_extract(raw))
    assert still.products.still_expired == (valium_id,) and not still.products.expired
    second = apply_plan(first, still)
    assert second.expired == {valium_id: date(2026, 12, 15)}

    back = plan_load(second, parse_extract(raw_with(extract_date="2027-01-15")))
    assert [p.id for p in back.products.restored] == [valium_id]
    assert back.counts()["products"]["changed"] == 1  # Ibux's maximum is back to 2400 mg
    third = apply_plan(second, back)
    assert not third.is_expired(valium_id) and third.expired == {}


def test_an_expired_interaction_is_no_longer_reported() -> None:
    raw = raw_with(extract_date="2026-12-15")
    marevan, ibux = named("Marevan tab 2,5 mg"), named("Ibux tab 400 mg")
    (warfarin_nsaid,) = [h.interaction.id
                         for h in sample_catalogue().interactions_between([marevan, ibux])]
    raw["interactions"] = [i for i in raw["interactions"] if i["id"] != warfarin_nsaid]
    after = apply_plan(sample_catalogue(), plan_load(sample_catalogue(), parse_extract(raw)))
    assert after.interactions_between([marevan, ibux]) == ()
    assert warfarin_nsaid in after.interactions and after.is_expired(warfarin_nsaid)


def test_an_older_extract_is_refused_unless_asked_for() -> None:
    raw, _, _ = changed_extract()
    newer = apply_plan(sample_catalogue(), plan_load(sample_catalogue(), parse_extract(raw)))
    with pytest.raises(CatalogueError, match="older than the loaded catalogue"):
        plan_load(newer, sample_extract())
    rollback = plan_load(newer, sample_extract(), allow_older=True)
    assert [p.name for p in rollback.products.restored] == ["Valium"]


def test_a_plan_applies_only_to_the_state_it_was_made_against() -> None:
    plan = plan_load(None, parse_extract(changed_extract()[0]))
    with pytest.raises(CatalogueError, match="another catalogue state"):
        apply_plan(sample_catalogue(), plan)


# --- readable errors -------------------------------------------------------------------------


def test_a_bad_extract_gets_one_readable_sentence_per_problem() -> None:
    raw = raw_with(extract_date="29.11.2026")
    raw["extract"]["sampel"] = True
    raw["products"][3]["atc"] = "M01AE1"
    raw["products"][3]["max_daily_dose"]["amount"] = -5
    del raw["products"][4]["route"]
    raw["interactions"][0]["level"] = 4
    raw["interactions"][1]["groups"] = [raw["interactions"][1]["groups"][0]]
    raw["interactions"][2]["groups"][1] = []
    raw["products"][5]["ingredients"] = []
    with pytest.raises(CatalogueError) as caught:
        parse_extract(raw)
    problems = caught.value.problems
    assert problems == [
        "extract.extract_date: '29.11.2026' is not a date (expected YYYY-MM-DD).",
        "extract.sampel is not a known field.",
        'products[3] ("Ibux") atc: \'M01AE1\' is not a well-formed ATC code '
        "(like N02BE01 or A12AX).",
        'products[3] ("Ibux") max_daily_dose.amount: input should be greater than 0 (got -5).',
        'products[4] ("Voltaren") route is missing.',
        'products[5] ("Marevan") ingredients: must list at least one entry.',
        'interactions[0] ("warfarin + ibuprofen, diklofenak") level: input should be 1, 2 or 3 '
        "(got 4).",
        'interactions[1] ("warfarin") groups[1] is missing.',
        'interactions[2] ("warfarin") groups[1]: must list at least one entry.',
    ]
    assert str(caught.value) == " ".join(problems)


def test_references_and_ids_are_checked_after_the_shape() -> None:
    raw = copy.deepcopy(read_sample())
    raw["products"][1]["id"] = raw["products"][0]["id"]
    raw["products"][2]["ingredients"][0]["substance_id"] = "ID_00000000-0000-0000-0000-000000000000"
    raw["substances"][0]["id"] = "paracetamol"
    with pytest.raises(CatalogueError) as caught:
        parse_extract(raw)
    assert caught.value.problems == [
        "substances[0] (\"paracetamol\") id: 'paracetamol' is not a FEST id "
        "(ID_ followed by a GUID)."]
    raw["substances"][0]["id"] = read_sample()["substances"][0]["id"]
    with pytest.raises(CatalogueError) as caught:
        parse_extract(raw)
    assert caught.value.problems == [
        f'products[1] ("Paracet") has id {raw["products"][0]["id"]}, which products[0] '
        '("Paracet") already uses.',
        'products[2] ("Paralgin forte") ingredients[0] names substance '
        "ID_00000000-0000-0000-0000-000000000000, which is not in the extract.",
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [([], "The extract must be a JSON object, not list."),
     ({}, "extract is missing. products is missing."),
     ({"extract": {"extract_date": "2026-11-29", "source": "test"}, "products": []},
      "products: must list at least one entry."),
     ],
)
def test_empty_or_malformed_extracts(raw: Any, message: str) -> None:
    with pytest.raises(CatalogueError) as caught:
        parse_extract(raw)
    assert str(caught.value) == message


def test_many_problems_are_cut_short_in_the_message_but_all_kept() -> None:
    raw = copy.deepcopy(read_sample())
    for product in raw["products"]:
        product["atc"] = "bad"
    with pytest.raises(CatalogueError) as caught:
        parse_extract(raw)
    assert len(caught.value.problems) == 50
    assert str(caught.value).endswith("… and 30 more problems.")
