"""A clinician withholds a note from the patient (§ 5-1) over the journal's API, guarded like
any journal write; the patient's own reads of the journal (overview, notes, timeline) leave it
out entirely (its FHIR API too), health personnel still see it, and lifting the decision shows it again."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

from tests.journal.conftest import Clinic


async def _note(clinic: Clinic, patient_id: str, headers: dict, text: str) -> str:
    r = await clinic.journal.post(f"/patients/{patient_id}/notes?sign=true", headers=headers,
                                  json={"kind": "medical", "text": text})
    assert r.status_code == 201, r.text
    return r.json()["note_id"]


async def _fhir_notes(clinic: Clinic, patient_id: str, headers: dict) -> set[str]:
    r = await clinic.journal.get("/fhir/DocumentReference", params={"patient": patient_id},
                                 headers=headers)
    assert r.status_code == 200, r.text
    return {e["resource"]["id"] for e in r.json().get("entry", [])}


async def test_a_withheld_note_never_reaches_the_patients_reads(clinic: Clinic):
    patient_id, pid = await clinic.register(born=date(1950, 1, 9))
    cw = clinic.case_worker()
    await clinic.until_allowed(cw, patient_id)
    secret = await _note(clinic, patient_id, cw, "Prognosen er alvorlig.")
    plain = await _note(clinic, patient_id, cw, "Sår stelt.")
    url = f"/patients/{patient_id}/withheld-from-patient"

    # bad input and the wrong people change nothing
    r = await clinic.journal.post(url, headers=cw, json={"entry_id": secret, "section": "notes"})
    assert r.status_code == 422 and "reason" in r.text, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    r = await clinic.journal.post(url, headers=cw, json={
        "entry_id": secret, "section": "conditions", "reason": "x"})
    assert r.status_code == 404, r.text
    r = await clinic.journal.post(url, headers=clinic.legevakt(), json={
        "entry_id": secret, "section": "notes", "reason": "x"})
    assert r.status_code == 403, r.text                   # no care relation
    me = clinic.citizen(pid)
    r = await clinic.journal.post(url, headers=me, json={
        "entry_id": secret, "section": "notes", "reason": "x"})
    assert r.status_code == 403, r.text                   # citizens do not write the journal

    r = await clinic.journal.post(url, headers=cw, json={
        "entry_id": secret, "section": "notes", "reason": "Fare for alvorlig helseskade."})
    assert r.status_code == 201, r.text
    token = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
    r = await clinic.journal.post(url, headers=cw, json={
        "entry_id": secret, "section": "notes", "reason": "igjen"})
    assert r.status_code == 409, r.text

    for path in ("", "/notes", "/timeline"):
        r = await clinic.journal.get(f"/patients/{patient_id}{path}", headers=me | token)
        assert r.status_code == 200, r.text
        assert plain in r.text and "Sår stelt." in r.text
        assert secret not in r.text and "Prognosen" not in r.text, path
        assert "helseskade" not in r.text and "Withheld" not in r.text, path
    r = await clinic.journal.get(f"/patients/{patient_id}/notes", headers=cw | token)
    assert {n["note_id"] for n in r.json()["notes"]} == {secret, plain}
    assert await _fhir_notes(clinic, patient_id, cw | token) == {secret, plain}
    # the patient's FHIR reads leave it out too: a search, and a read like an unknown id's
    assert await _fhir_notes(clinic, patient_id, me | token) == {plain}
    r = await clinic.journal.get(f"/fhir/DocumentReference/{secret}", headers=me | token)
    unknown = await clinic.journal.get(f"/fhir/DocumentReference/{uuid4()}", headers=me)
    assert (r.status_code, r.json()) == (unknown.status_code, unknown.json()) != 200
    r = await clinic.journal.get(f"/patients/{patient_id}/timeline", headers=cw | token)
    assert "Entry withheld from patient" in {e["what"] for e in r.json()["entries"]}

    r = await clinic.journal.post(f"{url}/{secret}/lift", headers=cw, json={})
    assert r.status_code == 422 and "reason" in r.text, r.text
    r = await clinic.journal.post(f"{url}/{secret}/lift", headers=cw,
                                  json={"reason": "Samtale holdt med pasienten."})
    assert r.status_code == 200, r.text
    token = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
    r = await clinic.journal.get(f"/patients/{patient_id}/notes", headers=me | token)
    assert {n["note_id"] for n in r.json()["notes"]} == {secret, plain}
    assert await _fhir_notes(clinic, patient_id, me | token) == {secret, plain}
    r = await clinic.journal.get(f"/patients/{patient_id}/timeline", headers=me | token)
    assert "Samtale holdt" not in r.text and "helseskade" not in r.text
