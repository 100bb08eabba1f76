"""Ingestion on the real stack: devices report through the API; what is acknowledged is in the
event store and reaches the read model; bad input writes nothing."""

from __future__ import annotations

import json

from datetime import timedelta

from sqlalchemy import text

from services.welfare.domain import codes
from tests.support.routes import patient_routes, unguarded_routes
from tests.welfare.conftest import ALARM, MONITOR, Home, batch, flag, now, observation


async def _events(home: Home) -> int:
    async with home.api._transport.app.state.engine.connect() as conn:   # noqa: SLF001
        return (await conn.execute(text(
            "SELECT count(*) FROM events WHERE stream_id LIKE 'welfare-%'"))).scalar_one()


async def test_readings_are_recorded_once_and_in_their_place_in_time(home: Home):
    patient = await home.person()
    await home.assign(patient, "tablet-1", MONITOR)
    await home.cover(patient, MONITOR)
    tablet = home.device("tablet-1")
    later, earlier = now() - timedelta(minutes=1), now() - timedelta(hours=2)
    r = await home.api.post("/ingest/Observation", headers=tablet,
                            json=observation(patient, "spo2-2", value=95, at=later))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "accepted"
    again = await home.api.post("/ingest/Observation", headers=tablet,
                                json=observation(patient, "spo2-2", value=95, at=later))
    assert again.status_code == 200 and again.json()["recorded"] is False
    bp = observation(patient, "bp-1", code="85354-9", at=earlier) | {"component": [
        {"code": {"coding": [{"system": codes.LOINC, "code": "8480-6"}]},
         "valueQuantity": {"value": 142, "unit": "mm[Hg]", "system": codes.UCUM,
                           "code": "mm[Hg]"}},
        {"code": {"coding": [{"system": codes.LOINC, "code": "8462-4"}]},
         "valueQuantity": {"value": 88, "unit": "mm[Hg]", "system": codes.UCUM,
                           "code": "mm[Hg]"}}]}
    del bp["valueQuantity"]
    r = await home.api.post("/ingest", headers=tablet, json=batch(
        bp, observation(patient, "spo2-2", value=95, at=later),
        observation(patient, "temp-1", code="8310-5", value=37.9, unit="Cel")))
    assert r.status_code == 201, r.text
    statuses = [e["response"]["status"] for e in r.json()["entry"]]
    assert statuses == ["201 Created", "200 OK", "201 Created"]
    token = r.headers["X-Consistency-Token"]

    rows = await home.api.get(f"/patients/{patient}/readings",
                              headers=home.c.nurse() | {"X-Consistency-Token": token})
    readings = rows.json()["readings"]
    # newest first by when it happened: the late blood pressure is last, in its place
    assert [x["device_event_id"] for x in readings] == ["temp-1", "spo2-2", "bp-1", "probe"][
        :len(readings)] or [x["device_event_id"] for x in readings][:3] == [
        "temp-1", "spo2-2", "bp-1"]
    assert readings[2]["components"][0] == {"code": "8480-6", "value": 142.0,
                                            "ucum": "mm[Hg]"}


async def test_bad_input_is_a_clear_4xx_and_writes_nothing(home: Home):
    patient = await home.person()
    await home.assign(patient, "tablet-2", MONITOR)
    await home.cover(patient, MONITOR)
    tablet = home.device("tablet-2")
    before = await _events(home)
    cases = [
        (observation(patient, "x1", code="1234-5"), 422, "not a measurement"),
        (observation(patient, "x2", unit="percent"), 422, "UCUM"),
        (observation(patient, "x3", value=180), 422, "not a plausible"),
        (observation(patient, "x4", at=now() + timedelta(days=1)), 422, "in the future"),
        (observation(patient, "x5") | {"identifier": []}, 422, "event id"),
        (flag(patient, "x6", code="4.99"), 422, "not a VKP event code"),
        (flag(patient, "x7", severity=7), 422, "severity"),
    ]
    for body, status, text_part in cases:
        path = "/ingest/" + body["resourceType"]
        r = await home.api.post(path, headers=tablet, json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["resourceType"] == "OperationOutcome"
        assert text_part in r.text, r.text
    # JSON's Infinity as the severity (Python's json reads it): a 422, not a 500
    r = await home.api.post("/ingest/Flag", headers=tablet | {"Content-Type": "application/json"},
                            content=json.dumps(flag(patient, "x8", severity=float("inf"))))
    assert r.status_code == 422 and "severity" in r.text, r.text
    # one bad entry in a batch: nothing of the batch is written
    r = await home.api.post("/ingest", headers=tablet, json=batch(
        observation(patient, "ok-1"), observation(patient, "bad-1", value=-3)))
    assert r.status_code == 422 and "entry[1]" in r.text, r.text
    too_many = batch(*(observation(patient, f"n{i}") for i in range(101)))
    r = await home.api.post("/ingest", headers=tablet, json=too_many)
    assert r.status_code == 413, r.text
    assert await _events(home) == before


async def test_a_device_reports_only_for_the_person_it_is_assigned_to(home: Home):
    patient = await home.person()
    other = await home.person()
    await home.assign(patient, "alarm-3", ALARM)
    alarm = home.device("alarm-3")
    unknown = home.device("never-assigned")
    before = await _events(home)
    nobody = "6f1c3b1e-0000-4000-8000-000000000000"
    answers = []
    for headers, pid in ((alarm, other), (alarm, nobody), (unknown, patient)):
        r = await home.api.post("/ingest/Flag", headers=headers, json=flag(pid, "f-1"))
        assert r.status_code == 403, r.text
        answers.append(r.json()["issue"][0]["diagnostics"])
    # the same words whether the person exists or not
    assert len(set(answers)) == 1
    nurse = await home.api.post("/ingest/Flag", headers=home.c.nurse(),
                                json=flag(patient, "f-2"))
    assert nurse.status_code == 403
    assert await _events(home) == before

    # every route with a person in it is guarded; ingestion decides per person named
    assert len(patient_routes(home.app)) >= 10
    assert unguarded_routes(home.app, ("_ingest(",),
                            also=("/ingest", "/ingest/{resource_type}")) == []

