"""The alert rules and an alert's handling (pure): what each reading calls for, the same
events however often a reading is seen, and the order of an alert's steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from libs.kernel.errors import Conflict, NotFound
from services.welfare import contract as ev
from services.welfare.domain import alerts, codes, intake, rules
from tests.welfare.conftest import flag, observation

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CFG = rules.RuleConfig(unit="974600978", response_sla=timedelta(minutes=30),
                       follow_up_within=timedelta(hours=24))
PID = str(uuid4())


def _flag(code: str, severity: int | None, system: str = codes.ALERT_SYSTEM):
    return intake.read(flag(PID, f"e-{code}", code=code, severity=severity, system=system,
                            at=NOW), "dev", "tech", NOW, "Flag")


@pytest.mark.parametrize(("reading", "expected"), [
    (_flag("4.1", None), ["welfare.AlertRaised", ("response", "Rød alarm: Fall")]),
    (_flag("4.13", 3), ["welfare.AlertRaised", ("response", "Rød alarm: Knappetrykk")]),
    (_flag("3.7", 2), [("follow_up", "Dose ikke tatt: Ikke utlevert, tomt for medisin")]),
    (_flag("2.2", 2, codes.DHO_SYSTEM), [("follow_up", "Måling ikke rapportert")]),
    (_flag("4.2", 2), [("follow_up", "Gul hendelse: Forlatt sengen")]),
    (_flag("4.8", 1), []),
    (_flag("1.1", 1, codes.DISPENSE_SYSTEM), []),
])
def test_what_a_reading_calls_for(reading, expected):
    out = rules.decide(reading, CFG, NOW)
    assert [e.event_type if isinstance(e, ev.AlertRaised) else (e.kind, e.title)
            for e in out] == expected
    for e in out:
        if isinstance(e, ev.AlertRaised):
            assert e.due_at == NOW + timedelta(minutes=30)
            assert e.task_id == out[1].task_id   # the alert names its response task


def test_a_reading_seen_twice_decides_the_same_ids():
    fall = _flag("4.1", 3)
    first, again = rules.decide(fall, CFG, NOW), rules.decide(fall, CFG, NOW + timedelta(1))
    assert [e.alert_id for e in first[:1]] == [e.alert_id for e in again[:1]]
    assert first[1].task_id == again[1].task_id


def test_a_measurement_follows_its_light():
    m = intake.read(observation(PID, "m", value=90, at=NOW), "dev", "tech", NOW, "Observation")
    assert rules.decide(m, CFG, NOW) == []   # no thresholds: no light, nothing raised
    yellow = rules.decide(m.model_copy(update={"light": "yellow"}), CFG, NOW)
    assert [(e.kind, e.title) for e in yellow] == [
        ("follow_up", "Gul måling: Oxygen saturation by pulse oximetry 90 %")]


def test_an_alert_is_acknowledged_once_and_resolved_once():
    alert_id = uuid4()
    with pytest.raises(NotFound):
        alerts.acknowledge([], alert_id, "9144889", "974600978", NOW)
    raised = rules.decide(_flag("4.1", 3), CFG, NOW)[0]
    ack = alerts.acknowledge([raised], alert_id, "9144889", "974600978", NOW)
    with pytest.raises(Conflict):
        alerts.acknowledge([raised, *ack], alert_id, "9144889", "974600978", NOW)
    done = alerts.resolve([raised, *ack], alert_id, alerts.Resolve(note="ok"), "9144889",
                          "974600978", NOW)
    with pytest.raises(Conflict):
        alerts.resolve([raised, *ack, *done], alert_id, alerts.Resolve(note="ok"), "1",
                       "974600978", NOW)
    assert alerts.escalation(alert_id, 0, CFG.response_sla, NOW).level == 1
    assert alerts.escalation(alert_id, alerts.MAX_LEVEL, CFG.response_sla, NOW) is None
