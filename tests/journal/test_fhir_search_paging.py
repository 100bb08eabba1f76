"""FHIR search pages on the real stack (issue 12, finding 6): the next link goes on with a
``_cursor`` (no resource twice, none skipped, while the record grows), ``_cursor`` and
``_offset`` are bounded and checked (a readable 422), and an entry the patient has locked never
appears and leaves no hole in a page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from tests.journal.conftest import Clinic
from tests.support.waiting import passes

N = 13


def _observation(subject: str, value: int, at: datetime) -> dict:
    return {"request": {"method": "POST", "url": "Observation"}, "resource": {
        "resourceType": "Observation", "id": f"obs-{value}", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                            "observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": subject}, "effectiveDateTime": at.isoformat(),
        "valueQuantity": {"value": value, "unit": "/min", "system": "http://unitsofmeasure.org",
                          "code": "/min"}}}


async def _pulses(clinic: Clinic, patient_id: str, headers: dict, values: range,
                  start: datetime) -> tuple[list[str], dict]:
    """Post one pulse a minute from ``start``; (their ids, newest first; a consistency token)."""
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        _observation(f"Patient/{patient_id}", v, start + timedelta(minutes=n))
        for n, v in enumerate(values)]}
    r = await clinic.journal.post("/fhir", headers=headers, json=bundle)
    assert r.status_code == 200, r.text
    ids = [e["response"]["location"].split("/")[1] for e in r.json()["entry"]]
    return ids[::-1], {"X-Consistency-Token": r.headers["X-Consistency-Token"]}


async def _walk(clinic: Clinic, headers: dict, patient_id: str, between=None) -> list[list]:
    """Every page of the patient's pulses, five a page, by the next links."""
    pages = []
    r = await clinic.journal.get("/fhir/Observation", headers=headers, params={
        "patient": patient_id, "code": "http://loinc.org|8867-4", "_count": 5})
    while True:
        assert r.status_code == 200, r.text
        pages.append([e["resource"]["id"] for e in r.json().get("entry", [])])
        nxt = [link["url"] for link in r.json()["link"] if link["relation"] == "next"]
        if not nxt:
            return pages
        query = parse_qs(urlsplit(nxt[0]).query)
        assert "_cursor" in query and "_offset" not in query, nxt[0]
        if between:
            await between()
        r = await clinic.journal.get(nxt[0].removeprefix("http://journal"), headers=headers)


async def test_pages_follow_a_cursor_and_refuse_what_they_cannot_page(clinic: Clinic):
    patient_id, _ = await clinic.register()
    await clinic.home_care_granted(patient_id)
    nurse = clinic.nurse()
    await clinic.until_allowed(nurse, patient_id)
    start = datetime.now(UTC) - timedelta(hours=2)
    ids, token = await _pulses(clinic, patient_id, nurse, range(60, 60 + N), start)
    nurse |= token
    added = []

    async def meanwhile():        # a newer and an older pulse arrive while the client pages
        at = start + timedelta(minutes=N + 1) if not added else start - timedelta(minutes=9)
        new, tok = await _pulses(clinic, patient_id, nurse, range(200 + len(added),
                                                                  201 + len(added)), at)
        added.extend(new)
        nurse.update(tok)

    pages = await _walk(clinic, nurse, patient_id, between=meanwhile)
    seen = [i for page in pages for i in page]
    assert len(seen) == len(set(seen)), "a pulse on two pages"
    assert [i for i in seen if i in ids] == ids, "a pulse skipped or out of order"
    assert [len(p) for p in pages[:-1]] == [5] * (len(pages) - 1)

    search = {"patient": patient_id, "code": "8867-4"}
    for bad, name in (({"_cursor": "not-a-cursor"}, "_cursor"), ({"_offset": 10_001}, "_offset"),
                      ({"_offset": 5, "_cursor": "e30"}, "_cursor")):
        r = await clinic.journal.get("/fhir/Observation", headers=nurse, params=search | bad)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["resourceType"] == "OperationOutcome" and name in r.text, r.text
    r = await clinic.journal.get("/fhir/Observation", headers=nurse, params=search)
    everything = [e["resource"]["id"] for e in r.json()["entry"]]
    assert everything[0] == added[0] and everything[1:N + 1] == ids   # the newest came first
    r = await clinic.journal.get("/fhir/Observation", headers=nurse,
                                 params=search | {"_offset": 3, "_count": 2})
    assert r.status_code == 200 and r.json()["total"] == N + len(added)
    assert [e["resource"]["id"] for e in r.json()["entry"]] == everything[3:5]


async def test_a_locked_entry_never_appears_and_leaves_no_hole(clinic: Clinic):
    patient_id, national_id = await clinic.register()
    await clinic.home_care_granted(patient_id)
    nurse = clinic.nurse()
    await clinic.until_allowed(nurse, patient_id)
    ids, token = await _pulses(clinic, patient_id, nurse, range(60, 60 + N),
                               datetime.now(UTC) - timedelta(hours=2))
    locked = ids[3]
    r = await clinic.consent.post(f"/patients/{patient_id}/restrictions",
                                  headers=clinic.citizen(national_id), json={"target": locked})
    assert r.status_code == 201, r.text
    nurse |= token

    async def withheld():
        r = await clinic.journal.get(f"/fhir/Observation/{locked}", headers=nurse)
        assert r.status_code == 403
    await passes(withheld)

    pages = await _walk(clinic, nurse, patient_id)
    assert pages == [[i for i in ids if i != locked][k:k + 5] for k in range(0, N - 1, 5)]
    r = await clinic.journal.get("/fhir/Observation", headers=nurse,
                                 params={"patient": patient_id, "_count": 1})
    assert r.json()["total"] == N - 1 and locked not in r.text
