"""Decision support, pure, one rule at a time with a tiny in-test catalogue (requirement 36):
interactions ("avoid" and "take precautions" shown, "no action needed" suppressed), duplicate
substance, CAVE conflicts, the maximum daily dose; an "avoid" needs a stated reason, and the
warnings come back from the decision and are recorded as an event. Last, the catalogue module's
shipped sample seen through the adapter."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from libs.kernel.errors import Invalid
from services.medication.domain import decision_support as ds
from services.medication import contract as ev
from services.medication.domain import medication_list as ml
from services.medication.domain import state as st
from services.medication.domain.dosing import to_dose
from services.medication.projections.cave import CaveItem
from services.medication.contract import Drug
from tests.medication.domain_support import (
    CATALOGUE, DOCTOR, NOW, dose, drug, empty, prescribed, then,
)
from tests.support.refusals import refused


def cave(substance: str, category: str = "drug_reaction", status: str = "verified"):
    return CaveItem(critical_id=uuid.uuid4(), category=category, substance=substance,
                    status=status)


def order(lst, product_id: str, d=None, cave_list=(), **kw):
    return ml.prescribe(lst, ml.Prescribe(product_id=product_id, dose=d or dose(), **kw),
                        DOCTOR, NOW, catalogue=CATALOGUE, cave=cave_list)


# --- interactions --------------------------------------------------------------------------------

def test_an_avoid_interaction_needs_a_stated_reason_which_is_recorded():
    lst, warfarin = prescribed(product_id="marevan", d=dose(1, "tablett", "18:00"))
    with pytest.raises(Invalid) as exc:
        order(lst, "ibux")
    message = refused(Invalid, order, lst, "ibux")
    assert message == ("1 warning(s) say this should be avoided: going ahead needs a stated "
                       "reason (override_reason).")
    # the refusal carries the warnings as its details, so they can be shown
    assert exc.value.details == ({
        "text": "Interaksjon med Marevan tab 2,5 mg: bør unngås. Økt blødningsrisiko.",
        "code": "interaction:avoid"},)
    refused(Invalid, order, lst, "ibux", override_reason="   ")
    prescribed_, recorded = order(lst, "ibux", override_reason=" kortvarig, INR følges ")
    assert isinstance(recorded, ev.WarningsRecorded)
    [w] = recorded.warnings
    assert (w.kind, w.level, w.other_entry_id, w.detail) == (
        "interaction", "avoid", warfarin.entry_id, "Økt blødningsrisiko.")
    assert w.message == "Interaksjon med Marevan tab 2,5 mg: bør unngås. Økt blødningsrisiko."
    assert (recorded.entry_id, recorded.action, recorded.override_reason) == (
        prescribed_.entry_id, "prescribe", "kortvarig, INR følges")
    assert ml.warnings_of([prescribed_, recorded]) == (w,)
    lst = then(lst, [prescribed_, recorded])
    assert lst.changes[-1].action == "warnings"
    assert lst.changes[-1].reason == "kortvarig, INR følges"


def test_a_precautions_interaction_is_shown_and_recorded_without_a_reason():
    lst, _ = prescribed(product_id="marevan")
    _, recorded = order(lst, "paracet")
    [w] = recorded.warnings
    assert (w.level, recorded.override_reason) == ("precautions", None)
    assert w.message == ("Interaksjon med Marevan tab 2,5 mg: forholdsregler bør tas. INR kan "
                         "stige.")


def test_no_action_needed_is_never_shown():
    lst, _ = prescribed(product_id="selozok")
    assert [type(e) for e in order(lst, "norvasc")] == [ev.MedicationPrescribed]


def test_only_active_entries_are_checked_and_a_resumed_one_is_checked_again():
    lst, warfarin = prescribed(product_id="marevan")
    lst = then(lst, ml.pause(lst, ml.Pause(entry_id=warfarin.entry_id, reason="INR"), DOCTOR,
                             NOW))
    events = order(lst, "ibux")
    assert len(events) == 1  # paused: not checked now
    lst = then(lst, events)
    message = refused(Invalid, ml.resume, lst, ml.Resume(entry_id=warfarin.entry_id), DOCTOR, NOW,
                      catalogue=CATALOGUE)
    assert "override_reason" in message
    resumed, recorded = ml.resume(lst, ml.Resume(entry_id=warfarin.entry_id,
                                                 override_reason="avtalt med kardiolog"),
                                  DOCTOR, NOW, catalogue=CATALOGUE)
    assert (recorded.action, recorded.warnings[0].other_entry_id) == ("resume",
                                                                      events[0].entry_id)
    lst = then(lst, ml.discontinue(lst, ml.Discontinue(entry_id=warfarin.entry_id,
                                                       reason="byttet"), DOCTOR, NOW))
    assert all(w.kind != "interaction" for w in ml.warnings_of(order(
        lst, "ibux")))  # discontinued: never checked (the active Ibux is a duplicate)


def test_renewal_and_dose_change_are_checked_too():
    lst, warfarin = prescribed(product_id="marevan")
    lst = then(lst, order(lst, "ibux", override_reason="kort kur"))
    ibux = lst.entries[-1]
    refused(Invalid, ml.renew, lst, ml.Renew(entry_id=ibux.entry_id), DOCTOR, NOW,
            catalogue=CATALOGUE)
    *_, recorded = ml.renew(lst, ml.Renew(entry_id=ibux.entry_id, override_reason="kort kur"),
                            DOCTOR, NOW, catalogue=CATALOGUE)
    assert recorded.action == "renew"
    *_, recorded = ml.change_dose(lst, ml.ChangeDose(
        entry_id=ibux.entry_id, dose=dose(1, "tablett", "08:00", "20:00"),
        override_reason="kort kur"), DOCTOR, NOW, catalogue=CATALOGUE)
    assert recorded.action == "change_dose"


# --- duplicates --------------------------------------------------------------------------------

def test_the_same_substance_twice_is_a_duplicate():
    lst, paracet = prescribed()
    _, recorded = order(lst, "pinex")
    [w] = recorded.warnings
    assert (w.kind, w.level, w.other_entry_id) == ("duplicate", "precautions", paracet.entry_id)
    assert w.message == "Samme virkestoff som Paracet tab 500 mg (Paracetamol)."
    _, recorded = order(lst, "paralgin")  # a combination containing it
    assert [w.kind for w in recorded.warnings] == ["duplicate"]


def test_the_same_atc_code_is_a_duplicate():
    a = drug("Pinex", atc="N02BE01")
    [w] = ds.duplicates(a, [st.Entry.model_construct(entry_id=uuid.UUID(int=1),
                                                     drug=drug("Paracet", atc="N02BE01"))])
    assert w.message == "Samme ATC-kode som Paracet (N02BE01)."
    assert ds.duplicates(a, [st.Entry.model_construct(entry_id=uuid.UUID(int=1),
                                                      drug=drug("Ibux", atc="M01AE01"))]) == []


# --- CAVE --------------------------------------------------------------------------------------

def test_a_cave_on_the_substance_is_an_avoid_warning():
    lst = empty()
    allergy = cave("FENOKSYMETYLPENICILLIN")
    message = refused(Invalid, order, lst, "apocillin", cave_list=[allergy])
    assert "override_reason" in message
    _, recorded = order(lst, "apocillin", cave_list=[allergy], override_reason="tålt før")
    [w] = recorded.warnings
    assert (w.kind, w.level, w.critical_id) == ("cave", "avoid", allergy.critical_id)
    assert w.message == "CAVE (legemiddelreaksjon, verifisert): FENOKSYMETYLPENICILLIN."


@pytest.mark.parametrize(("entry", "warns"), [
    (cave("fenoksymetylpenicillin", status="registered"), True),
    (cave("Fenoksymetylpenicillin", category="other_allergy"), True),
    (cave("J01C"), True),                               # an ATC group covers the drug
    (cave("j01ce02"), True),
    (cave("Apocillin tab 660 mg"), True),               # the product's name
    (cave("J01D"), False),
    (cave("Penicillin"), True),                         # a drug class covers its ATC groups
    (cave("penicilliner"), True),
    (cave("cefalosporiner"), False),
    (cave("penicillinallergi"), False),                 # names match whole, not in part
    (cave("Pen"), False),
    (cave("fenoksymetylpenicillin", status="refuted"), False),
    (cave("fenoksymetylpenicillin", status="removed"), False),
    (cave("fenoksymetylpenicillin", category="infection"), False),
    (CaveItem(critical_id=uuid.uuid4(), category="drug_reaction", substance=None,
              status="registered"), False),
])
def test_which_cave_entries_warn(entry, warns):
    apocillin = Drug(product_id="apocillin", name="Apocillin tab 660 mg", atc="J01CE02",
                     substances=("fenoksymetylpenicillin",))
    assert bool(ds.cave_conflicts(apocillin, [entry])) is warns


def test_a_cave_for_a_drug_class_covers_its_members_only():
    ibux = Drug(product_id="ibux", name="Ibux tab 400 mg", atc="M01AE01",
                substances=("ibuprofen",))
    paracet = Drug(product_id="paracet", name="Paracet tab 500 mg", atc="N02BE01",
                   substances=("paracetamol",))
    [w] = ds.cave_conflicts(ibux, [cave("NSAID")])
    assert w.message == "CAVE (legemiddelreaksjon, verifisert): NSAID."
    assert ds.cave_conflicts(paracet, [cave("NSAID")]) == []
    assert ds.cave_conflicts(Drug(name="Ukjent urtemiddel"), [cave("NSAID")]) == []


# --- maximum daily dose -------------------------------------------------------------------------

@pytest.mark.parametrize(("product_id", "d", "warns"), [
    ("paracet", dose(2, "tablett", "08:00", "14:00", "20:00", "23:00"), False),  # 4000 mg
    ("paracet", dose(2, "tablett", times_per_day=5), True),                      # 5000 mg
    ("paracet", dose(1000, "mg", times_per_day=4), False),
    ("paracet", dose(1.5, "g", times_per_day=3), True),                          # 4500 mg
    ("paracet", dose(2, "tablett", as_needed=True, max_per_day=10), True),       # 5000 mg
    ("levaxin", dose(150, "mikrog", times_per_day=1), False),
    ("levaxin", dose(0.25, "mg", times_per_day=1), True),                        # 250 µg
    ("levaxin", dose(3, "tablett", times_per_day=1), True),                      # 300 µg
    ("apocillin", dose(2, "tablett", times_per_day=4), False),                   # 8 tablett
    ("apocillin", dose(1320, "mg", times_per_day=4), False),                     # 8 tablett
    ("apocillin", dose(1000, "mg", times_per_day=6), True),                      # 9.1 tablett
    ("paralgin", dose(2, "tablett", times_per_day=5), True),
    ("paralgin", dose(800, "mg", times_per_day=4), False),  # a combination: not comparable
    ("marevan", dose(10, "tablett", times_per_day=4), False),  # no maximum in the catalogue
    ("ibux", dose(2, "dosepose", times_per_day=4), False),  # units that do not compare
    ("paracet", dose(10, "ml", times_per_day=4), False),
    ("duphalac", dose(15, "ml", times_per_day=3), False),                        # 45 ml
    ("duphalac", dose(20, "ml", times_per_day=3), True),
    ("duphalac", dose(15000, "mg", times_per_day=3), True),                      # 67 ml
])
def test_the_daily_dose_is_checked_against_the_maximum(product_id, d, warns):
    product = CATALOGUE.product(product_id)
    drug_ = Drug(product_id=product_id, name=product.name, atc=product.atc,
                 substances=product.substances)
    assert bool(ds.above_max_dose(drug_, to_dose(d), CATALOGUE)) is warns


def test_a_dose_above_the_maximum_needs_a_reason_also_when_changed():
    lst = empty()
    too_much = dose(2, "tablett", times_per_day=5)
    refused(Invalid, order, lst, "paracet", too_much)
    _, recorded = order(lst, "paracet", too_much, override_reason="palliativ")
    [w] = recorded.warnings
    assert (w.kind, w.level) == ("max_dose", "avoid")
    assert w.message == "Døgndosen 5000 mg er over maksimal døgndose 4000 mg."
    lst, entry = prescribed()
    refused(Invalid, ml.change_dose, lst, ml.ChangeDose(entry_id=entry.entry_id, dose=too_much),
            DOCTOR, NOW, catalogue=CATALOGUE)


# --- all together --------------------------------------------------------------------------------

def test_check_returns_every_rule_and_a_record_needs_no_reason():
    lst, warfarin = prescribed(product_id="marevan")
    lst, ibux = prescribed(lst, "ibux", override_reason="kort kur")
    allergy = cave("ibuprofen", category="other_allergy", status="registered")
    events = ml.record_from_other_source(lst, ml.RecordFromOtherSource(
        source="over_the_counter", product_id="ibux", dose=dose(3, "tablett", times_per_day=3)),
        DOCTOR, NOW + timedelta(hours=1), catalogue=CATALOGUE, cave=[allergy])
    recorded = events[-1]
    assert recorded.action == "record" and recorded.override_reason is None
    assert [(w.kind, w.level) for w in recorded.warnings] == [
        ("interaction", "avoid"), ("duplicate", "precautions"), ("cave", "avoid"),
        ("max_dose", "avoid")]
    assert ds.require_override([], "ingen grunn") is None


# --- the catalogue module's sample, through the adapter ------------------------------------------

def test_the_shipped_sample_catalogue_fits_decision_support():
    from services.medication.catalogue import sample_catalogue
    from services.medication.catalogue.adapter import FestCatalogue

    fest = FestCatalogue(sample_catalogue())
    ids = {p.name_form_strength: p.id for p in sample_catalogue().products.values()}
    marevan = fest.product(ids["Marevan tab 2,5 mg"])
    paracet = fest.product(ids["Paracet tab 500 mg"])
    assert (marevan.substances, marevan.atc, marevan.expired) == (("warfarin",), "B01AA03", False)
    assert (paracet.max_daily_dose, paracet.max_daily_dose_unit, paracet.strength) == (
        4000, "mg", 500)
    assert fest.product("ID_nope") is None

    def as_drug(p) -> Drug:
        return Drug(product_id=p.product_id, name=p.name, atc=p.atc, substances=p.substances)

    ibux = next(fest.product(i) for n, i in ids.items() if n.startswith("Ibux"))
    [hit] = fest.interactions(as_drug(marevan), as_drug(ibux))
    assert hit.level == 1 and "blødningsrisiko" in hit.text
    entry = st.Entry.model_construct(entry_id=uuid.UUID(int=1), drug=as_drug(marevan))
    warnings = ds.check(as_drug(ibux), to_dose(dose(400, "mg", times_per_day=3)), [entry],
                        catalogue=fest)
    assert [(w.kind, w.level) for w in warnings] == [("interaction", "avoid")]
    by_atc = Drug(name="Ibuprofen mikstur (fra sykehus)", atc="M01AE01")  # outside the catalogue
    assert [i.level for i in fest.interactions(by_atc, as_drug(marevan))] == [1]
    too_much = ds.check(as_drug(paracet), to_dose(dose(2, "tablett", times_per_day=5)), [],
                        catalogue=fest)
    assert [w.kind for w in too_much] == ["max_dose"]
    selozok = next(fest.product(i) for n, i in ids.items() if n.startswith("Selo-Zok"))
    norvasc = next(fest.product(i) for n, i in ids.items() if n.startswith("Norvasc"))
    assert [i.level for i in fest.interactions(as_drug(selozok), as_drug(norvasc))] == [3]
    assert ds.interactions(as_drug(norvasc), [st.Entry.model_construct(
        entry_id=uuid.UUID(int=2), drug=as_drug(selozok))], fest) == []


def test_interactions_asked_again_and_beyond_the_memory_answer_the_same():
    """The adapter keeps each drug's interaction sides (``FestCatalogue._sides``): asked again,
    in the other order, or with its memory full, every pair answers as a fresh adapter does."""
    from services.medication.catalogue import sample_catalogue
    from services.medication.catalogue.adapter import FestCatalogue

    catalogue = sample_catalogue()
    drugs = [Drug(product_id=p.id, name=p.name_form_strength, atc=p.atc,
                  substances=tuple(s.name for s in catalogue.substances_of(p)))
             for p in catalogue.products.values()]
    drugs.append(Drug(name="Ibuprofen mikstur (fra sykehus)", atc="M01AE01"))

    def levels(fest: FestCatalogue, a: Drug, b: Drug) -> list[tuple[int, str]]:
        return [(i.level, i.text) for i in fest.interactions(a, b)]

    kept, small = FestCatalogue(catalogue), FestCatalogue(catalogue, max_sides=2)
    found = 0
    for _ in range(2):
        for a in drugs:
            for b in drugs:
                fresh = levels(FestCatalogue(catalogue), a, b)
                assert levels(kept, a, b) == fresh == levels(small, a, b)
                assert levels(kept, b, a) == levels(FestCatalogue(catalogue), b, a)
                found += bool(fresh)
    assert found >= 4   # the sample has interactions to find (warfarin + NSAID, ...)
    assert len(small._sides_of) <= 2
