"""What a FHIR update of an Observation asks the journal to do (``observation_update.py``),
decided against the version read: pure, no I/O."""

from __future__ import annotations

from uuid import uuid4

import pytest

from libs.kernel.errors import Invalid
from services.journal.domain.clinical import CorrectObservation, ObservationInError
from services.journal.fhir.observation_update import observation_change

RID = str(uuid4())
READ = {"resourceType": "Observation", "id": RID, "meta": {"versionId": "1"},
        "text": {"status": "generated", "div": "<div/>"}, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": "Patient/p"}, "effectiveDateTime": "2026-12-03T08:00:00+00:00",
        "valueQuantity": {"value": 72.0, "unit": "/min", "system": "http://unitsofmeasure.org",
                          "code": "/min"}}


def _with(**changes) -> dict:
    body = {k: v for k, v in READ.items() if k not in ("meta", "text")}
    return body | changes


def _value(v) -> dict:
    return {"valueQuantity": READ["valueQuantity"] | {"value": v}}


def test_a_new_value_with_a_new_note_is_a_correction_with_that_reason():
    change = observation_change(_with(**_value(76), note=[{"text": " Telt på nytt "}]), RID, READ)
    assert change == CorrectObservation(observation_id=RID, value=76.0, reason="Telt på nytt")


def test_a_note_already_recorded_is_not_the_reason_again():
    old = [{"text": "første retting", "time": "2026-12-03T09:00:00+00:00"}]
    read = READ | {"note": old, "status": "amended"}
    with pytest.raises(Invalid, match="new note"):
        observation_change(_with(**_value(77), note=old, status="amended"), RID, read)
    change = observation_change(_with(**_value(77), status="amended",
                                      note=[*old, {"text": "andre retting"}]), RID, read)
    assert change == CorrectObservation(observation_id=RID, value=77.0, reason="andre retting")


def test_entered_in_error_marks_it_with_the_reason():
    change = observation_change(_with(status="entered-in-error", note=[{"text": "feil pasient"}]),
                                RID, READ)
    assert change == ObservationInError(observation_id=RID, reason="feil pasient")


def test_the_same_observation_sent_back_changes_nothing():
    assert observation_change(_with(), RID, READ) is None
    assert observation_change(READ, RID, READ) is None   # with meta and narrative as read


@pytest.mark.parametrize("body, says", [
    (_with(code={"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}), "new Observation"),
    (_with(subject={"reference": "Patient/other"}), "new Observation"),
    (_with(effectiveDateTime="2026-12-01T08:00:00+00:00"), "new Observation"),
    (_with(valueQuantity={"value": 7, "unit": "kg", "system": "http://unitsofmeasure.org",
                          "code": "kg"}), "/min"),
    (_with(valueQuantity={"value": "76"}), "number"),
    (_with(valueQuantity={"value": True, "code": "/min"}), "number"),
    (_with(status="preliminary", **_value(76), note=[{"text": "ny"}]), "status"),
    (_with(**_value(76)), "new note"),
    (_with(id="another"), "same id"),
    (_with(resourceType="Patient"), "same id"),
    (_with(note="a string"), "list"),
    (_with(**_value(76), note=[{"text": "x" * 2001}]), "2,000"),
])
def test_what_an_update_may_not_change_is_refused_saying_why(body, says):
    with pytest.raises(Invalid, match=says):
        observation_change(body, RID, READ)
