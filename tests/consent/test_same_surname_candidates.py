"""The candidates for same-surname review items that consent's access-log projection sends with
a batch's entries (PostgreSQL says which have the patient's family name; the whole flow is
``tests/journal/test_care_relations.py``), and the items it makes of those. Pure: no
servers."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from uuid import uuid4, uuid5

from libs.audit.log import AccessLogged
from services.consent.projections.access_log import SAME_SURNAME, _candidates, same_surname_items

AT = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)


def logged(name: str | None, *, outcome: str = "permit", kind: str = "practitioner",
           unit: str | None = "974600951", actor: str = "9144800",
           at: datetime = AT) -> AccessLogged:
    return AccessLogged(service="journal", outcome=outcome, reason="care_relation",
                        actor_kind=kind, actor_id=actor, hpr=actor, name=name,
                        point_of_care=unit, action="read", accessed_at=at, chain="journal:x",
                        seq=1, prev_hash="0" * 64, hash="1" * 64)


def test_a_permitted_named_professional_at_a_unit_is_a_candidate_by_surname():
    patient = uuid4()
    env = SimpleNamespace(patient_id=patient)
    entry = logged("Nina  Hansen")
    assert _candidates([(env, entry)]) == [(env, entry, "hansen")]


def test_no_name_a_blank_name_a_refusal_a_citizen_or_no_unit_is_no_candidate():
    env = SimpleNamespace(patient_id=uuid4())
    entries = [logged(None), logged("   "), logged("Nina Hansen", outcome="deny"),
               logged("Nina Hansen", kind="citizen"), logged("Nina Hansen", unit=None)]
    assert _candidates([(env, e) for e in entries]) == []
    assert _candidates([(SimpleNamespace(patient_id=None), logged("Nina Hansen"))]) == []


def test_an_item_per_professional_patient_and_day_only_for_the_matched_the_first_making_it():
    patient, other = uuid4(), uuid4()
    later = AT.replace(hour=14)
    named = _candidates([(SimpleNamespace(patient_id=patient), logged("Nina Hansen")),
                         (SimpleNamespace(patient_id=other), logged("Nina Hansen")),
                         (SimpleNamespace(patient_id=patient), logged("Nina Hansen", at=later)),
                         (SimpleNamespace(patient_id=patient),
                          logged("Per Hansen", actor="9144801"))])
    items = same_surname_items(named, [1, 3, 4])      # the second's patient is not a Hansen
    # the id earlier versions gave it, so a later batch's same item stays as it was
    assert [i["i"] for i in items] == [uuid5(SAME_SURNAME, f"9144800:{patient}:2026-12-05"),
                                       uuid5(SAME_SURNAME, f"9144801:{patient}:2026-12-05")]
    assert items[0]["t"] == AT and items[0]["p"] == patient and items[0]["u"] == "974600951"
    assert items[0]["k"] == "same_surname" and '"hpr": "9144800"' in items[0]["s"]
    assert same_surname_items(named, []) == []
