"""Requirement 46 on the real stack: a person's device data are used only while a consent or a
pasrl § 4-6 a decision covers the technology; otherwise they are quarantined, the service owner
gets one review task, and releases or discards them by a recorded decision."""

from __future__ import annotations

from datetime import timedelta

from tests.support.waiting import passes
from tests.welfare.conftest import ALARM, Home, flag, now


async def test_a_person_without_consent_is_quarantined_until_the_owner_decides(home: Home):
    patient = await home.person()
    await home.assign(patient, "alarm-q", ALARM)
    alarm = home.device("alarm-q")
    first = await home.api.post("/ingest/Flag", headers=alarm, json=flag(patient, "q-1"))
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "quarantined"
    second = await home.api.post("/ingest/Flag", headers=alarm,
                                 json=flag(patient, "q-2", code="4.13"))
    assert second.json()["status"] == "quarantined"
    token = second.headers["X-Consistency-Token"]
    nurse = home.c.nurse() | {"X-Consistency-Token": token}

    held = (await home.api.get(f"/patients/{patient}/readings", headers=nurse,
                               params={"status": "quarantined"})).json()["readings"]
    assert {r["device_event_id"] for r in held} == {"q-1", "q-2"}
    tasks = (await home.api.get(f"/patients/{patient}/welfare-tasks", headers=nurse)
             ).json()["tasks"]
    # one review for the service owner, not one per reading
    assert [(t["kind"], t["unit"]) for t in tasks] == [("quarantine_review", "974600978")]

    q1, q2 = first.json()["reading_id"], second.json()["reading_id"]
    url = f"/patients/{patient}/quarantine"
    r = await home.api.post(f"{url}/{q1}/release", headers=home.c.nurse(),
                            json={"reason": "samtykke gitt muntlig"})
    assert r.status_code == 403, r.text   # only the service owner decides
    r = await home.api.post(f"{url}/{q1}/release", headers=home.leader(),
                            json={"reason": "samtykke gitt muntlig, journalført"})
    assert r.status_code == 200, r.text
    r = await home.api.post(f"{url}/{q1}/discard", headers=home.leader(),
                            json={"reason": "feil"})
    assert r.status_code == 409, r.text
    r = await home.api.post(f"{url}/{q2}/discard", headers=home.leader(),
                            json={"reason": "utløst ved test av alarmen"})
    assert r.status_code == 200, r.text
    token = r.headers["X-Consistency-Token"]

    by_id = {x["reading_id"]: x["status"] for x in (await home.api.get(
        f"/patients/{patient}/readings",
        headers=home.c.nurse() | {"X-Consistency-Token": token})).json()["readings"]}
    assert by_id[q1] == "released" and by_id[q2] == "discarded"

    # with a consent recorded, the next alarm is used at once
    await home.cover(patient, ALARM)
    r = await home.api.post("/ingest/Flag", headers=alarm, json=flag(patient, "q-3"))
    assert r.json()["status"] == "accepted", r.text


async def test_an_ended_decision_quarantines_again(home: Home):
    patient = await home.person()
    await home.assign(patient, "alarm-e", " Trygghetsalarm ")
    alarm = home.device("alarm-e")
    coverage = await home.cover(patient, ALARM, basis="pasrl_4_6a")
    r = await home.api.post("/ingest/Flag", headers=alarm, json=flag(patient, "e-1"))
    assert r.json()["status"] == "accepted", r.text
    r = await home.api.post(f"/patients/{patient}/coverage/{coverage['coverage_id']}/end",
                            headers=home.c.nurse(), json={"reason": "vedtaket opphevet"})
    assert r.status_code == 200, r.text
    # what happened before the end was covered; what happens after is not
    r = await home.api.post("/ingest/Flag", headers=alarm, json=flag(patient, "e-2"))
    assert r.json()["status"] == "accepted", r.text
    r = await home.api.post("/ingest/Flag", headers=alarm,
                            json=flag(patient, "e-3", at=now() + timedelta(seconds=2)))
    assert r.json()["status"] == "quarantined", r.text

    async def listed() -> None:
        cov = (await home.api.get(f"/patients/{patient}/coverage", headers=home.c.nurse())
               ).json()["coverage"]
        assert cov[0]["basis"] == "pasrl_4_6a" and cov[0]["ended_at"] is not None
    await passes(listed)
