"""The alert rules and an alert's handling on the real stack, with the faust worker in its own
process (one worker run for the whole story, so the suite stays quick):

- a fall alarm becomes a red flag and a response task for the home-care unit; nobody
  acknowledges it, so it escalates; acknowledged, it stops escalating; resolved, it closes;
- a missed dose and a measurement not reported become follow-up tasks; a green event raises
  nothing;
- an SpO2 outside the thresholds a clinician set turns yellow (a follow-up task), further out
  red (an alert);
- a message the worker cannot read goes to the DLQ, and the stream goes on.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import text

from libs.events.envelope import Actor
from services.welfare.contract import AlertEscalated
from services.welfare.domain import codes
from tests.registry_export.support import coordinator_ready, produce
from tests.registry_export.test_worker import dlq_records
from tests.support.waiting import passes
from tests.welfare.conftest import (ALARM, Home, flag, now, observation, spawn_worker, stop,
                                    worker_log)

WAIT_S = 90


async def test_alarms_doses_and_thresholds_become_alerts_and_tasks(home: Home, database_url,
                                                                   kafka_bootstrap, unique,
                                                                   tmp_path):
    patient = await home.ready("alarm-r", ALARM)
    dispenser_patient = await home.ready("dispenser-r", "medisindispenser")
    monitored = await home.ready("oximeter-y", "digital hjemmeoppfølging")
    alarm, dispenser = home.device("alarm-r"), home.device("dispenser-r")
    for body in (flag(patient, "fall-1", code="4.1", severity=None),
                 flag(patient, "room-1", code="4.8", severity=1)):   # green: nothing
        r = await home.api.post("/ingest/Flag", headers=alarm, json=body)
        assert r.status_code == 201, r.text
    for body in (flag(dispenser_patient, "dose-1", code="3.3", severity=2),
                 flag(dispenser_patient, "dho-1", code="2.2", severity=2,
                      system=codes.DHO_SYSTEM)):
        r = await home.api.post("/ingest/Flag", headers=dispenser, json=body)
        assert r.status_code == 201, r.text
    await _thresholds_and_lights(home, monitored)
    # poison on the topic: the worker sends it to the DLQ and goes on
    await produce(kafka_bootstrap, home.topics["welfare.events"], [b"{not an event"],
                  key=patient.encode())

    app_id = f"welfare-{unique}"
    await coordinator_ready(kafka_bootstrap, app_id)
    datadir = tmp_path / "w"
    worker = spawn_worker(home, database_url, kafka_bootstrap, app_id, datadir, "1")
    nurse = home.c.nurse()
    url = f"/patients/{patient}/alerts"
    try:
        async def raised() -> None:
            tasks = await home.tasks(patient)
            assert [(t["kind"], t["unit"], t["title"]) for t in tasks] == [
                ("response", "974600978", "Rød alarm: Fall")]
            follow = sorted(t["title"] for t in await home.tasks(dispenser_patient))
            assert follow == ["Dose ikke tatt: Mangler utleveringsbekreftelse",
                              "Måling ikke rapportert"]
            lights = sorted((t["kind"], t["title"]) for t in await home.tasks(monitored))
            assert lights == [
                ("follow_up", "Gul måling: Oxygen saturation by pulse oximetry 91 %"),
                ("response", "Rød alarm: Oxygen saturation by pulse oximetry 87 % (rød)")]
        await passes(raised, WAIT_S)

        async def escalated() -> dict:   # nobody acknowledged it within its (short) SLA
            found = (await home.api.get(url, headers=nurse)).json()["alerts"]
            assert len(found) == 1 and found[0]["level"] >= 1, found
            return found[0]
        alert = await passes(escalated, WAIT_S)
        # the API's read model, the journal's (it reads welfare.events) and the worker each
        # send it there once
        poison = await dlq_records(kafka_bootstrap, home.topics["welfare.events"], 3)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- worker log ---\n{worker_log(datadir)}") from exc
    finally:
        stop(worker)
    assert {(p.value, dict(p.headers)["ehr.projection"]) for p in poison} == {
        (b"{not an event", b"welfare-alerts"), (b"{not an event", b"welfare_readings"),
        (b"{not an event", b"journal_records")}
    async with home.engine.connect() as conn:
        alerts = (await conn.execute(text(
            "SELECT envelope->'data' FROM events WHERE type = 'welfare.AlertRaised'"))).all()
    assert sorted((a[0]["code"], a[0]["severity"]) for a in alerts) == [
        ("4.1", 3), (codes.SPO2, 3)]
    await _acknowledge_and_resolve(home, patient, alert)


async def _thresholds_and_lights(home: Home, patient: str) -> None:
    r = await home.api.post(f"/patients/{patient}/thresholds", headers=home.c.nurse(),
                            json={"code": codes.SPO2, "yellow_low": 92, "red_low": 88})
    assert r.status_code == 200, r.text
    bad = await home.api.post(f"/patients/{patient}/thresholds", headers=home.c.nurse(),
                              json={"code": codes.SPO2, "yellow_low": 85, "red_low": 90})
    assert bad.status_code == 422, bad.text
    oximeter = home.device("oximeter-y")
    for event_id, value in (("s-1", 96), ("s-2", 91), ("s-3", 87)):
        r = await home.api.post("/ingest/Observation", headers=oximeter,
                                json=observation(patient, event_id, value=value))
        assert r.status_code == 201, r.text
    token = r.headers["X-Consistency-Token"]
    readings = (await home.api.get(f"/patients/{patient}/readings",
                                   headers=home.c.nurse() | {"X-Consistency-Token": token})
                ).json()["readings"]
    assert {x["device_event_id"]: x["light"] for x in readings} == {
        "s-1": "green", "s-2": "yellow", "s-3": "red"}


async def _acknowledge_and_resolve(home: Home, patient: str, alert: dict) -> None:
    nurse, url = home.c.nurse(), f"/patients/{patient}/alerts"
    assert (alert["code"], alert["status"]) == ("4.1", "raised")
    alert_id = alert["alert_id"]
    r = await home.api.post(f"{url}/{alert_id}/acknowledge", headers=nurse)
    assert r.status_code == 200, r.text
    again = await home.api.post(f"{url}/{alert_id}/acknowledge", headers=nurse)
    assert again.status_code == 409, again.text
    # acknowledged, it never escalates again (whatever the timer finds in a stale read model)
    late = AlertEscalated(alert_id=UUID(alert_id), level=9, due_at=now(), escalated_at=now())
    assert await home.app.state.intake.alert_step(
        UUID(patient), UUID(alert_id), "escalated-9", [late],
        Actor(kind="system", id="test")) is None
    r = await home.api.post(f"{url}/{alert_id}/resolve", headers=nurse,
                            json={"note": "Funnet på gulvet, ingen skade. Hjulpet opp."})
    assert r.status_code == 200, r.text
    token = r.headers["X-Consistency-Token"]
    closed = (await home.api.get(url, headers=nurse | {"X-Consistency-Token": token})
              ).json()["alerts"]
    assert closed[0]["status"] == "resolved"
    r = await home.api.post(f"{url}/{alert_id}/resolve", headers=nurse, json={"note": "x"})
    assert r.status_code == 409
    async with home.engine.connect() as conn:
        steps = [row[0] for row in (await conn.execute(text("""
            SELECT type FROM events WHERE envelope->'data'->>'alert_id' = :a
             ORDER BY stream_version"""), {"a": alert_id})).all()]
    assert steps[0] == "welfare.AlertRaised" and steps[-2:] == [
        "welfare.AlertAcknowledged", "welfare.AlertResolved"]
    assert "welfare.AlertEscalated" in steps
