"""FHIR read by id and search after issue 17: the resource (or the page), its patient and the
patient's access facts are read in one statement, then decided and logged as before. What a client and the patient
would notice must not change: the access entry is committed before the answer arrives (no
waiting here), the body is byte for byte what the other read paths (``vread``) serve, a
stranger and an unknown id get the same 403 and are both logged, and the chain stays intact."""

from __future__ import annotations

import json
from datetime import date
from uuid import uuid4

from libs.audit.verify import verify_db
from tests.journal.conftest import Clinic
from tests.journal.test_fhir_rest import _transaction, patient_resource, weight


async def _logged(clinic: Clinic, where: str, arg: str) -> list[dict]:
    """The journal's access-log entries matching ``where`` (on ``$1``), as committed now."""
    async with clinic.journal_app.state.engine.connect() as sa:
        conn = (await sa.get_raw_connection()).driver_connection
        rows = await conn.fetch(
            "SELECT (envelope->'data')::text FROM events WHERE type = 'audit.AccessLogged' "
            f"AND {where} ORDER BY position", arg)
    return [json.loads(r[0]) for r in rows]


async def _access_entries(clinic: Clinic, patient_id: str) -> list[dict]:
    return await _logged(clinic, "stream_id = $1", f"audit-journal-{patient_id}")


async def _denied_probes(clinic: Clinic, resource: str) -> list[dict]:
    """Entries naming ``resource`` in any chain (an unknown id is decided on a random patient
    id, so its entry is in a chain of its own)."""
    return await _logged(clinic, "envelope->'data'->'resources' ? $1", resource)


async def test_a_read_by_id_is_logged_before_it_is_answered(clinic: Clinic, database_url,
                                                            unique):
    nurse = clinic.nurse()
    r = await clinic.journal.post("/fhir", headers=nurse, json=_transaction(
        ("urn:uuid:p", patient_resource(clinic.synthetic(date(1950, 6, 1)), "Lie")),
        ("urn:uuid:o", weight("urn:uuid:p", 64.5))))
    assert r.status_code == 200, r.text
    locations = [e["response"]["location"] for e in r.json()["entry"]]
    patient_id = locations[0].split("/")[1]
    obs = locations[1].split("/")[1]
    await clinic.until_allowed(nurse, patient_id)   # the registration's care relation

    before = len(await _access_entries(clinic, patient_id))
    r = await clinic.journal.get(f"/fhir/Observation/{obs}", headers=nurse)
    assert r.status_code == 200, r.text
    entries = await _access_entries(clinic, patient_id)   # committed: nothing to wait for
    assert len(entries) == before + 1
    assert entries[-1]["resources"] == [f"Observation/{obs}"]
    assert (entries[-1]["outcome"], entries[-1]["hpr"]) == ("permit", "9144889")

    # the same bytes and headers as the version read through vread's path
    version = r.json()["meta"]["versionId"]
    v = await clinic.journal.get(f"/fhir/Observation/{obs}/_history/{version}", headers=nurse)
    assert v.status_code == 200
    assert r.content == v.content
    assert (r.headers["ETag"], r.headers["Last-Modified"], r.headers["content-type"]) == (
        v.headers["ETag"], v.headers["Last-Modified"], v.headers["content-type"])

    # a search: its page read with the facts, logged before the answer, the same resource
    found = await clinic.journal.get("/fhir/Observation", headers=nurse, params={
        "patient": patient_id, "code": "http://loinc.org|29463-7"})
    assert found.status_code == 200, found.text
    assert [e["resource"] for e in found.json()["entry"]] == [r.json()]
    entries = await _access_entries(clinic, patient_id)
    assert entries[-1]["resources"] == ["Observation?patient"]
    assert (entries[-1]["outcome"], entries[-1]["hpr"]) == ("permit", "9144889")

    # a stranger and an unknown id: the same 403, and both accesses are logged as refused
    stranger = clinic.legevakt()
    refused = await clinic.journal.get(f"/fhir/Observation/{obs}", headers=stranger)
    unknown_id = str(uuid4())
    unknown = await clinic.journal.get(f"/fhir/Observation/{unknown_id}", headers=nurse)
    assert refused.status_code == unknown.status_code == 403
    assert refused.content == unknown.content
    assert refused.json()["resourceType"] == "OperationOutcome"
    last = (await _access_entries(clinic, patient_id))[-1]
    assert (last["outcome"], last["hpr"], last["resources"]) == (
        "deny", "1112223", [f"Observation/{obs}"])
    searched = await clinic.journal.get("/fhir/Observation", headers=stranger,
                                        params={"patient": patient_id})
    assert (searched.status_code, searched.content) == (403, refused.content)
    last = (await _access_entries(clinic, patient_id))[-1]
    assert (last["outcome"], last["resources"]) == ("deny", ["Observation?patient"])
    probes = await _denied_probes(clinic, f"Observation/{unknown_id}")
    assert [(p["outcome"], p["hpr"]) for p in probes] == [("deny", "9144889")]

    report = await verify_db(database_url, f"t_{unique}_journal")
    assert report.intact, report.problems
    assert report.entries >= len(entries) + 3
