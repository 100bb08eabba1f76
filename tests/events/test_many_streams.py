"""Events in their JSON form (``many_streams.Written``), pure: the envelope the store writes
around them is the document ``Envelope.model_dump_json`` writes, and the access log's entries
written that way are the ``AccessLogged`` events the model would have written."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from libs.access.model import Action, Basis, Decision, Practitioner, Resource, Role
from libs.audit.chain import EMPTY, chain_id, entry_hash, entry_json, link
from libs.audit.log import AccessLogged, entry_for
from libs.events.envelope import Actor, Envelope, new_event_id
from libs.events.many_streams import Written, WrittenAppend, envelope_json, written_rows
from libs.events.ports import EventContext

T0 = datetime(2026, 12, 6, 5, 0, 0, 123456, tzinfo=UTC)
NURSE = Practitioner(person_id="sub-9", hpr="9144889", name="Nina Ødegård-Ås", org_parent="123456785",
                     org_child="974600978", roles=frozenset({Role.nurse}))


def access_entry(i: int, now: datetime = T0):
    decision = Decision(permit=True, reason="care_relation", message="-",
                        basis=Basis.care_relation, hidden=frozenset({"Observation/9"}))
    return entry_for(NURSE, Action.read, Resource(patient_id=uuid.UUID(int=i)), decision,
                     service="consent", resources=[f"Consent/{i}", "Observation/\n\"1\""],
                     purpose="TREAT", now=now)


CONTEXTS = [
    EventContext(patient_id=uuid.uuid4(), actor=Actor(kind="system", id="consent")),
    EventContext(patient_id=None, actor=Actor(kind="practitioner", id="9144889",
                                              organisation="123456785", unit="974600978",
                                              role="nurse"),
                 purpose="TREAT", correlation_id=uuid.uuid4(), causation_id=uuid.uuid4(),
                 occurred_at=datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))),
]


@pytest.mark.parametrize("ctx", CONTEXTS)
@pytest.mark.parametrize("now", [T0, T0.replace(microsecond=0)])
@pytest.mark.parametrize("traceparent", [None, "00-0af7651916cd43dd8448eb211c80319c-"
                                                "b7ad6b7169203331-01"])
def test_a_written_event_gets_the_envelope_the_model_writes(ctx, now, traceparent):
    fields = dict(access_entry(1).__dict__)
    link(fields, chain_id("consent", uuid.UUID(int=1)), EMPTY)
    payload, event_id = AccessLogged.model_validate(fields), new_event_id()
    by_model = Envelope(event_id=event_id, type=payload.event_type,
                        schema_version=payload.schema_version, stream_id="audit-consent-1",
                        stream_version=3, patient_id=ctx.patient_id,
                        occurred_at=ctx.occurred_at or now, recorded_at=now, actor=ctx.actor,
                        purpose=ctx.purpose, correlation_id=ctx.correlation_id,
                        causation_id=ctx.causation_id, traceparent=traceparent,
                        data=payload.model_dump(mode="json")).model_dump_json()
    written = envelope_json(event_id, AccessLogged, "audit-consent-1", 3, ctx, now, traceparent,
                            entry_json(fields))
    assert json.loads(written) == json.loads(by_model)   # to the character of every value
    assert Envelope.model_validate_json(written) == Envelope.model_validate_json(by_model)


def test_an_entry_written_as_json_is_the_event_the_model_writes_and_its_hash_holds():
    head = EMPTY
    for i in range(3):
        fields = dict(access_entry(i, T0 + timedelta(seconds=i)).__dict__)
        head = link(fields, "consent:p", head)
        data = entry_json(fields)
        by_model = AccessLogged.model_validate(fields)
        assert AccessLogged.model_validate_json(data) == by_model
        assert json.loads(data) == json.loads(by_model.model_dump_json())
        stored = json.loads(data)   # what a verifier reads back
        assert entry_hash(stored) == stored["hash"] == head.hash and stored["seq"] == i + 1


def test_written_rows_number_the_stream_and_key_by_patient():
    pid = uuid.uuid4()
    ctx = EventContext(patient_id=pid, actor=Actor(kind="system", id="consent"))
    events = [Written(AccessLogged, b'{"x":1}'), Written(AccessLogged, b'{"x":2}')]
    rows = written_rows([WrittenAppend("audit-consent-p", 4, events, ctx)],
                        {"audit.access": "bench.audit.access.1"}, T0, None)
    assert rows.v == [5, 6] and rows.s == ["audit-consent-p"] * 2
    assert rows.topic == ["bench.audit.access.1"] * 2 and rows.key == [str(pid).encode()] * 2
    assert [json.loads(e)["data"] for e in rows.e] == [{"x": 1}, {"x": 2}]
    assert len(set(rows.id)) == 2 and rows.t == ["audit.AccessLogged"] * 2
