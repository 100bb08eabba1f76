"""Property-based tests of the pure parts of the wire contract (no I/O)."""

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.events.consistency import ConsistencyToken, InvalidToken
from libs.events.registry import EventDecodeError
from tests.support.bank import EVENTS as BANK
from tests.support.bank import AccountOpened, Deposited  # noqa: F401 - registers bank.*


@given(st.uuids())
def test_consistency_token_round_trips(u: uuid.UUID):
    token = ConsistencyToken(u)
    assert ConsistencyToken.decode(token.encode()) == token


@given(st.text(max_size=40))
def test_any_other_token_is_refused_with_invalid_token(raw: str):
    try:
        ConsistencyToken.decode(raw)
    except InvalidToken:
        return
    # the rare string that decodes must be a well-formed token of this version
    assert len(raw) >= 22


@settings(max_examples=300)
@given(st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    st.fixed_dictionaries({
        "event_id": st.uuids().map(str), "type": st.sampled_from(
            ["bank.Deposited", "bank.AccountOpened", "bank.Unknown", "nodot"]),
        "schema_version": st.integers(-2, 5), "stream_id": st.text(max_size=5),
        "stream_version": st.integers(-1, 3), "patient_id": st.none(),
        "occurred_at": st.just("2026-11-29T10:00:00Z"),
        "recorded_at": st.just("2026-11-29T10:00:00Z"),
        "actor": st.just({"kind": "system", "id": "x"}),
        "data": st.dictionaries(st.sampled_from(["amount_ore", "amount_nok", "owner"]),
                                st.one_of(st.integers(-5, 5), st.text(max_size=3)))},
    ).map(lambda d: __import__("json").dumps(d).encode()),
))
def test_decode_either_returns_a_typed_event_or_raises_event_decode_error(raw: bytes):
    """Whatever arrives on a topic, the runner can tell poison from a good event."""
    try:
        env, payload = BANK.decode(raw)
    except EventDecodeError:
        return
    assert payload.event_type == env.type
    assert env.schema_version == type(payload).schema_version


def test_a_reader_older_than_the_event_says_so():
    import json

    raw = json.dumps({"event_id": str(uuid.uuid4()), "type": "bank.Deposited",
                      "schema_version": 3, "stream_id": "s", "stream_version": 1,
                      "patient_id": None, "occurred_at": "2026-11-29T10:00:00Z",
                      "recorded_at": "2026-11-29T10:00:00Z",
                      "actor": {"kind": "system", "id": "x"}, "data": {}})
    with pytest.raises(EventDecodeError, match="newer than this reader"):
        BANK.decode(raw)
