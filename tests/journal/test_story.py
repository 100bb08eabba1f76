"""The issue's end-to-end story on the real stack: register a patient -> apply and grant home care
with an IPLOS assessment -> care relation -> a nurse documents a visit and records vital signs
-> the GP reads the note -> the as-of read shows the record before the visit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from tests.journal.conftest import GP_OFFICE, Clinic
from tests.support.waiting import passes


async def test_from_registration_to_the_gp_reading_the_visit_and_the_record_before_it(
        clinic: Clinic):
    nurse, gp = clinic.nurse(), clinic.gp()
    patient_id, national_id = await clinic.register(regular_gp="7654321")

    # before any decision the home-care nurse has no need-to-know
    assert not await clinic.can(nurse, patient_id)

    decision = await clinic.home_care_granted(patient_id)
    await clinic.until_allowed(nurse, patient_id)      # the grant became a care relation

    before_visit = datetime.now(UTC)
    await asyncio.sleep(0.01)
    r = await clinic.journal.post(f"/patients/{patient_id}/notes?sign=true", headers=nurse,
                                  json={"kind": "home_care_visit",
                                        "text": "Morgenbesøk. Pasienten i god form, tok "
                                                "medisinene sine."})
    assert r.status_code == 201, r.text
    note_id = r.json()["note_id"]
    r = await clinic.journal.post(f"/patients/{patient_id}/observations", headers=nurse,
                                  json={"code": "8867-4", "value": 72})
    assert r.status_code == 201, r.text
    token = r.headers["X-Consistency-Token"]

    # read your writes: the overview with the token shows the visit and the pulse
    r = await clinic.journal.get(f"/patients/{patient_id}", headers=nurse | {
        "X-Consistency-Token": token})
    assert r.status_code == 200, r.text
    overview = r.json()
    assert [n["note_id"] for n in overview["newest_notes"]] == [note_id]
    assert overview["latest_vital_signs"][0]["value"] == 72
    assert [d["decision_id"] for d in overview["service_decisions"]] == [decision]

    # the GP has no relation yet; the GP office's leader assigns the office one (AC3)
    assert not await clinic.can(gp, patient_id)
    r = await clinic.assign(patient_id, GP_OFFICE, purpose="fastlege")
    assert r.status_code == 201, r.text
    r = await clinic.journal.get(f"/patients/{patient_id}/notes?kind=home_care_visit",
                                 headers=gp | {"X-Consistency-Token":
                                               r.headers["X-Consistency-Token"]})
    assert r.status_code == 200, r.text
    assert r.json()["notes"][0]["text"].startswith("Morgenbesøk")
    assert r.json()["notes"][0]["signed_by"] == "9144889"

    # as of before the visit: no note and no pulse, but the decision was there
    r = await clinic.journal.get(f"/patients/{patient_id}", headers=gp,
                                 params={"as_of": before_visit.isoformat()})
    assert r.status_code == 200, r.text
    then = r.json()
    assert then["newest_notes"] == [] and then["latest_vital_signs"] == []
    assert [d["decision_id"] for d in then["service_decisions"]] == [decision]

    # the patient sees in their access log that the GP read the journal, and the refusal
    async def gp_reads_logged() -> list[dict]:
        r = await clinic.consent.get(f"/patients/{patient_id}/access-log",
                                     headers=clinic.citizen(national_id))
        assert r.status_code == 200, r.text
        mine = [e for e in r.json() if e["service"] == "journal" and e["unit"] == GP_OFFICE]
        assert {(e["what"], e["permitted"]) for e in mine} >= {
            ("record", False), ("notes", True), ("record", True)}, mine
        return mine

    logged = await passes(gp_reads_logged)
    assert all(e["hpr"] == "7654321" for e in logged)
