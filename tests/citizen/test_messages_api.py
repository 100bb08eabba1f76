"""Messages to the care team over the journal's API (requirement 52): the client's message id
makes a repeated send one message, never two; reusing it for other words is refused; only a
unit of the patient's care team can be written to; health personnel reply and do not write as
the patient; another citizen gets the same answer as for a record that does not exist."""

from __future__ import annotations

import uuid

from tests.journal.conftest import HOME_CARE, LEGEVAKT, Clinic
from tests.journal.conftest import clinic  # noqa: F401 (the journal's fixture, used here)


async def test_a_message_is_stored_once_and_only_for_the_care_team(clinic: Clinic):
    patient_id, pid = await clinic.register()
    await clinic.until_allowed(clinic.case_worker(), patient_id)
    r = await clinic.assign(patient_id, HOME_CARE)
    assert r.status_code == 201, r.text
    me = clinic.citizen(pid)
    r = await clinic.consent.put(f"/patients/{patient_id}/consent-level", headers=me,
                                 json={"level": "full"})
    assert r.status_code == 200, r.text
    me = me | {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
    url = f"/patients/{patient_id}/care-team/messages"
    body = {"message_id": str(uuid.uuid4()), "unit": HOME_CARE, "subject": "Besøk",
            "text": "Kan dere komme tidligere?"}

    r = await clinic.journal.post(url, headers=me, json=body | {"unit": LEGEVAKT})
    assert r.status_code == 422 and "care team" in r.text, r.text
    r = await clinic.journal.post(url, headers=me, json=body | {"text": " "})
    assert r.status_code == 422 and r.json()["resourceType"] == "OperationOutcome", r.text
    r = await clinic.journal.post(url, headers=me, json=body | {"text": "x" * 4001})
    assert r.status_code == 422, r.text
    r = await clinic.journal.post(url, headers=clinic.nurse(), json=body)
    assert r.status_code == 403, r.text

    r = await clinic.journal.post(url, headers=me, json=body)
    assert r.status_code == 201, r.text
    written = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
    r = await clinic.journal.post(url, headers=me, json=body)     # a retry: stored once
    assert r.status_code == 200, r.text
    r = await clinic.journal.post(url, headers=me, json=body | {"text": "Noe annet"})
    assert r.status_code == 409, r.text

    stranger_id, stranger_pid = await clinic.register()
    stranger = clinic.citizen(stranger_pid)
    r = await clinic.journal.post(url, headers=stranger, json=body | {
        "message_id": str(uuid.uuid4())})
    missing = await clinic.journal.post(f"/patients/{uuid.uuid4()}/care-team/messages",
                                        headers=stranger, json=body)
    assert r.status_code == missing.status_code == 403
    assert r.json()["issue"] == missing.json()["issue"]

    r = await clinic.journal.post(f"{url}/{uuid.uuid4()}/replies", headers=clinic.nurse(),
                                  json={"text": "Hei"})
    assert r.status_code == 404, r.text
    r = await clinic.journal.get(url, headers=me | written)   # the read model has the write
    assert [m["text"] for m in r.json()["messages"]] == ["Kan dere komme tidligere?"]
