"""Hostile Bundles: a valid transaction with values swapped for odd ones (null, numbers, empty
strings and lists, objects where text belongs, dates out of range, resources without a type)
is answered with a readable refusal, never a crash. Both ways in are tried: the transaction
endpoint's (``transaction.check``, then the mapping) and ``ehr import synthea``'s
(``validate_bundle``, then the mapping with the Synthea policy). Pure: no I/O."""

from __future__ import annotations

import copy
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libs.kernel.errors import Invalid
from libs.kernel.identifiers import IdentifierSystem
from services.journal.domain.base import Clinician
from services.journal.fhir import transaction as tx
from services.journal.fhir.deciders import _valid_in_parts, validate_bundle
from services.journal.fhir.from_fhir import map_bundle
from services.journal.fhir.plan import MUNICIPALITY_EXT, BundleError
from services.journal.fhir.synthea import SyntheaPolicy
from tests.journal.support import TEST_NUMBER

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
BY = Clinician(hpr="9144889", unit="974600978")
SYNTHEA = Path(__file__).resolve().parent.parent / "data" / "synthea"
ODD = [None, 5, -1, 1.5, True, "", "x", [], {}, [None], [{}], {"resourceType": None},
       {"reference": None}, "9999-99-99", "2020-13-01", "2020", "1900-01-01",
       "2500-01-01T00:00:00Z", "2020-01-01T10:00:00", "Patient/", "urn:uuid:zz", 10 ** 30]


def _small_bundle() -> dict:
    """The Patient and at most two resources of each other type from a Synthea bundle with
    allergies, care plans, encounters, results and medications: every mapper is met."""
    whole = json.loads((SYNTHEA / "1f456f0a-acb1-4728-82af-01ca57083c7b.json").read_text())
    kept, seen = [], Counter()
    for e in whole["entry"]:
        kind = e["resource"]["resourceType"]
        seen[kind] += 1
        if kind == "Patient":   # a Norwegian one, so that the endpoint's way registers them
            e = {**e, "resource": {**e["resource"], "identifier": [
                {"system": IdentifierSystem.FNR, "value": TEST_NUMBER}], "address": [
                {"line": ["Fjordveien 2"], "postalCode": "5003", "city": "Bergen",
                 "_district": {"extension": [{"url": MUNICIPALITY_EXT, "valueCoding": {
                     "system": IdentifierSystem.MUNICIPALITY, "code": "4601"}}]}}]}}
        if kind == "Patient" or seen[kind] <= 2:
            kept.append(e)
    return {**whole, "type": "transaction", "entry": kept}


BUNDLE = _small_bundle()


def _paths(x, at=()):
    if at:
        yield at
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _paths(v, at + (k,))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _paths(v, at + (i,))


PATHS = list(_paths(BUNDLE))


def _swapped(changes: list[tuple[tuple, object]]) -> dict:
    out = copy.deepcopy(BUNDLE)
    for path, value in changes:
        node = out
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = copy.deepcopy(value)
        except (KeyError, IndexError, TypeError):   # an earlier change replaced the way there
            continue
    return out


CHANGES = st.lists(st.tuples(st.sampled_from(PATHS), st.sampled_from(ODD)), min_size=1,
                   max_size=3)


def test_the_unchanged_bundle_is_read_both_ways():
    tx.check(BUNDLE)
    plan = map_bundle(BUNDLE, tx._Policy(BY, NOW))
    assert plan.registration is not None and len({e.kind for e in plan.entries}) >= 6
    validate_bundle(BUNDLE)
    assert map_bundle(BUNDLE, SyntheaPolicy(NOW)).registration is not None


@pytest.mark.parametrize("resource_type", [None, 5, ["Observation"], {"a": 1}])
@pytest.mark.parametrize("contained", [False, True])
def test_a_resource_type_that_is_no_string_is_an_invalid_bundle_not_a_crash(resource_type,
                                                                            contained):
    odd = {"resourceType": resource_type, "status": "final"}
    resource = ({"resourceType": "Observation", "status": "final", "contained": [odd]}
                if contained else odd)
    with pytest.raises(BundleError, match="resourceType that is not the name of a type"):
        validate_bundle({"resourceType": "Bundle", "type": "transaction",
                         "entry": [{"resource": resource, "request": {"method": "POST",
                                                                      "url": "Observation"}}]})


@pytest.mark.parametrize("extension", ["2020", "[1]", "true", '"s"'])
def test_a_primitives_extension_that_is_no_object_is_an_invalid_bundle_not_a_crash(extension):
    """Found by the property below (6 Dec): a string of JSON that is no object where an
    element's extension goes made fhir.resources raise AttributeError (a 500)."""
    patient = {"resourceType": "Patient", "birthDate": "2000-01-01", "_birthDate": extension}
    with pytest.raises(BundleError, match="extension .* must be an object"):
        validate_bundle({"resourceType": "Bundle", "type": "transaction",
                         "entry": [{"resource": patient, "request": {"method": "POST",
                                                                     "url": "Patient"}}]})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CHANGES)
def test_odd_values_are_refused_in_words_never_a_crash(changes):
    bundle = _swapped(changes)
    try:   # the transaction endpoint: checked, then mapped (a plan with skips is a 422)
        tx.check(bundle)
        map_bundle(bundle, tx._Policy(BY, NOW))
    except (Invalid, BundleError):
        pass
    try:   # ehr import synthea: validated, then mapped with the demo policy
        validate_bundle(bundle)
        map_bundle(bundle, SyntheaPolicy(NOW))
    except BundleError:
        pass


def _whole_bundle_passes(bundle: dict) -> bool:
    from fhir.resources.R4B.bundle import Bundle
    try:
        Bundle.model_validate(bundle)
    except Exception:   # noqa: BLE001 - any refusal of the model's, as validate_bundle maps them
        return False
    return True


def test_an_ordinary_bundle_is_checked_in_parts():
    """The Synthea sample and a transaction Bundle as clients send one take the quicker way
    (each resource against its own model), not the whole Bundle's."""
    assert _valid_in_parts(BUNDLE)
    patient = BUNDLE["entry"][0]
    assert _valid_in_parts({"resourceType": "Bundle", "type": "transaction",
                            "entry": [patient, {"request": {"method": "GET",
                                                            "url": "Patient"}}]})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CHANGES)
def test_a_bundle_checked_in_parts_is_one_the_whole_model_accepts(changes):
    """What passes part by part, the Bundle model passes as a whole: the quicker way lets
    nothing through that the model refuses (what it refuses, the whole model's check
    then words)."""
    bundle = _swapped(changes)
    if _valid_in_parts(bundle):
        assert _whole_bundle_passes(bundle)
