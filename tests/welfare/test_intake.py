"""Reading a device's FHIR resource (pure): what is taken, and the sentence for what is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from libs.kernel.errors import Invalid
from services.welfare.domain import codes, coverage, intake, quarantine
from tests.welfare.conftest import flag, observation

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PID = str(uuid4())


def test_a_measurement_and_an_alarm_are_read_with_their_codes():
    m = intake.read(observation(PID, "e1", value=93, at=NOW - timedelta(minutes=3)),
                    "tablet", "dho", NOW, "Observation")
    assert (m.code, m.components[0].value, m.components[0].ucum) == (codes.SPO2, 93.0, "%")
    f = intake.read(flag(PID, "e2", code="4.1", severity=None, at=NOW), "alarm", "tryggh",
                    NOW, "Flag")
    assert (f.code, f.severity) == ("4.1", 3)   # a fall is red unless the device says so
    assert str(intake.patient_of(observation(PID, "e1"), "Observation")) == PID
    with pytest.raises(Invalid, match="Patient/<patient id>"):
        intake.patient_of({"subject": {"reference": "Patient/1"}}, "Flag")


def test_the_same_device_event_is_the_same_reading():
    a = intake.reading_id("tablet", "e1")
    assert a == intake.reading_id("tablet", "e1")
    assert a != intake.reading_id("other", "e1") != intake.reading_id("tablet", "e2")


@pytest.mark.parametrize(("body", "words"), [
    (observation(PID, "x", code="2345-7", at=NOW), "not a measurement"),
    (observation(PID, "x", unit="mmHg", at=NOW), "UCUM"),
    (observation(PID, "x", value=12, at=NOW), "not a plausible"),
    (observation(PID, "x", at=NOW + timedelta(minutes=6)), "in the future"),
    (flag(PID, "x", code="1.1", at=NOW), "not a VKP event code"),   # 1.1 is not an alert
    (flag(PID, "x", severity=4, at=NOW), "severity"),
    (flag(PID, "x", severity=float("inf"), at=NOW), "severity"),   # JSON's Infinity
])
def test_bad_input_says_what_is_wrong(body, words):
    with pytest.raises(Invalid) as caught:
        intake.read(body, "dev", "tech", NOW, body["resourceType"])
    assert words in caught.value.message


def test_a_red_alarm_is_urgent_whatever_else_the_request_carries():
    measurements = [observation(PID, f"m{i}", at=NOW) for i in range(9)]
    assert intake.urgent([*measurements, flag(PID, "fall", code="4.1", severity=None)])
    assert intake.urgent([flag(PID, "door", code="4.15", severity=3)])   # the device says red
    assert not intake.urgent(measurements)
    assert not intake.urgent([flag(PID, "door", code="4.15", severity=None),   # green
                              flag(PID, "bed", code="4.2", severity=2)])       # yellow


@pytest.mark.parametrize("junk", [
    None, [], "Flag", {"resourceType": "Flag"}, {"resourceType": "Flag", "code": []},
    {"resourceType": "Flag", "code": {"coding": [{"system": [], "code": {}}]}},
    {"resourceType": "Flag", "extension": "red"},
    {"resourceType": "Flag", "extension": [{"url": codes.SEVERITY_EXTENSION,
                                            "valueInteger": float("inf")}]},
    {"resourceType": "Flag", "extension": [{"url": codes.SEVERITY_EXTENSION,
                                            "valueInteger": True}]},
])
def test_what_is_not_well_formed_is_not_urgent_and_does_not_raise(junk):
    assert not intake.urgent([junk])


def test_a_basis_covers_its_technology_in_its_period_only():
    pid = uuid4()
    state = coverage.Coverage.empty(pid)
    [recorded] = coverage.record(state, coverage.RecordCoverage(
        technology="Trygghetsalarm", basis="consent", decision_ref="ref",
        valid_from=NOW - timedelta(days=1)), "9144889", "974600978", NOW)
    state = coverage.evolve(state, recorded)
    alarm = intake.read(flag(str(pid), "a", at=NOW), "alarm", " trygghetsalarm", NOW, "Flag")
    events, held = quarantine.intake(state, alarm)
    assert not held and events[0].event_type == "welfare.DeviceEventReceived"
    old = intake.read(flag(str(pid), "b", at=NOW - timedelta(days=2)), "alarm",
                      "trygghetsalarm", NOW, "Flag")
    assert quarantine.intake(state, old)[1] is True     # before the consent
    other = alarm.model_copy(update={"technology": "GPS"})
    assert quarantine.intake(state, other)[1] is True   # another technology
