"""A decision's facts are read afresh each time; only the parse of a text seen before is
remembered (``facts_from``). Pure: no database."""

from __future__ import annotations

from libs.access.model import Action, Facts, Resource
from libs.access.policy import decide
from libs.audit.facts_store import PARSED_MAX_CHARS, _parsed, facts_from
from tests.access.policy_cases import DAY, NOW, NURSE, PATIENT, block, facts, relation

READ = Resource(patient_id=PATIENT, category="record")


def test_changed_facts_count_at_once_after_the_old_text_was_parsed():
    kept = relation()
    with_relation = facts(care_relations=(kept,)).model_dump_json()
    ended = facts(care_relations=(kept.model_copy(update={"ended_at": NOW}),)).model_dump_json()
    blocked = facts(care_relations=(kept,), blocks=(block(NURSE.hpr),)).model_dump_json()
    for _ in range(3):   # parsed once, then remembered: each text still decides as its own
        assert decide(NURSE, Action.read, READ, facts_from(with_relation, PATIENT), NOW).permit
        assert not decide(NURSE, Action.read, READ, facts_from(ended, PATIENT), NOW).permit
        assert not decide(NURSE, Action.read, READ, facts_from(blocked, PATIENT), NOW).permit
    # time counts when deciding, never when parsing: the same remembered facts, another now
    later = facts_from(with_relation, PATIENT)
    assert decide(NURSE, Action.read, READ, later, NOW).permit
    assert not decide(NURSE, Action.read, READ, later, NOW - 2 * DAY).permit


def test_a_remembered_parse_equals_a_fresh_one_and_memory_stays_bounded():
    text = facts(care_relations=(relation(), relation(unit="998877665"))).model_dump_json()
    assert facts_from(text, PATIENT) == Facts.model_validate_json(text)
    assert facts_from(text, PATIENT) is facts_from(text, PATIENT)
    assert facts_from(None, PATIENT).care_relations == () and not facts_from("", PATIENT).registered
    many = facts(care_relations=tuple(relation() for _ in range(40))).model_dump_json()
    assert len(many) > PARSED_MAX_CHARS    # a long text is parsed every time, never kept
    before = _parsed.cache_info().currsize
    assert facts_from(many, PATIENT).care_relations == facts_from(many, PATIENT).care_relations
    assert facts_from(many, PATIENT) is not facts_from(many, PATIENT)
    assert _parsed.cache_info().currsize == before
    assert _parsed.cache_info().maxsize is not None
