"""The candidates for same-surname review items that consent's access-log projection sends with
a batch's entries (PostgreSQL keeps those whose surname is the patient's family name; the
whole flow is ``tests/journal/test_care_relations.py``). Pure: no servers."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from uuid import uuid4, uuid5

from libs.audit.log import AccessLogged
from services.consent.projections.access_log import SAME_SURNAME, _same_surname

AT = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)


def logged(name: str | None, *, outcome: str = "permit", kind: str = "practitioner",
           unit: str | None = "974600951") -> AccessLogged:
    return AccessLogged(service="journal", outcome=outcome, reason="care_relation",
                        actor_kind=kind, actor_id="9144800", hpr="9144800", name=name,
                        point_of_care=unit, action="read", accessed_at=AT, chain="journal:x",
                        seq=1, prev_hash="0" * 64, hash="1" * 64)


def test_a_permitted_named_professional_at_a_unit_is_a_candidate_with_the_day_s_item_id():
    patient = uuid4()
    found = _same_surname([(SimpleNamespace(patient_id=patient), logged("Nina  Hansen"))])
    assert found["sf"] == ["hansen"] and found["sp"] == [patient]
    # one item per professional, patient and day: the id earlier versions gave it
    assert found["si"] == [uuid5(SAME_SURNAME, f"9144800:{patient}:2026-12-05")]


def test_no_name_a_blank_name_a_refusal_a_citizen_or_no_unit_is_no_candidate():
    env = SimpleNamespace(patient_id=uuid4())
    entries = [logged(None), logged("   "), logged("Nina Hansen", outcome="deny"),
               logged("Nina Hansen", kind="citizen"), logged("Nina Hansen", unit=None)]
    found = _same_surname([(env, e) for e in entries])
    assert all(column == [] for column in found.values())
