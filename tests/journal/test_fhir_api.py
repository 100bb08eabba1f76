"""The journal's FHIR R4 API on the real stack: read, search with paging, _history and vread,
ETag, as_of, and transaction Bundles (all or nothing, If-Match). Every resource returned is
checked with the fhir.resources R4B models and against the no-basis identifier systems."""

from __future__ import annotations

import asyncio
import importlib
from datetime import UTC, date, datetime, timedelta

from libs.kernel.identifiers import ALL_SYSTEMS, IdentifierSystem
from tests.journal.conftest import HOME_CARE, Clinic

MODULES = {"CapabilityStatement": "capabilitystatement", "EpisodeOfCare": "episodeofcare", "AllergyIntolerance": "allergyintolerance",
           "DocumentReference": "documentreference", "CarePlan": "careplan"}


def valid(resource: dict) -> dict:
    """The resource parses as FHIR R4 (R4B models) and uses only known identifier systems."""
    rtype = resource["resourceType"]
    module = importlib.import_module(f"fhir.resources.R4B.{MODULES.get(rtype, rtype.lower())}")
    getattr(module, rtype).model_validate(resource)
    for system in _systems(resource):
        assert system in ALL_SYSTEMS, system
    return resource


def _systems(node) -> list[str]:
    if isinstance(node, dict):
        own = [node["system"]] if "value" in node and isinstance(node.get("system"), str) \
            and node["system"].startswith("urn:oid:2.16.578.1.12.4.1.4") else []
        return own + [s for v in node.values() for s in _systems(v)]
    if isinstance(node, list):
        return [s for v in node for s in _systems(v)]
    return []


async def _record(clinic: Clinic) -> tuple[str, str, dict]:
    patient_id, national_id = await clinic.register()
    await clinic.home_care_granted(patient_id)
    nurse = clinic.nurse()
    await clinic.until_allowed(nurse, patient_id)
    r = await clinic.journal.post(f"/patients/{patient_id}/episodes", headers=nurse,
                                  json={"kind": "home_care", "unit": HOME_CARE})
    assert r.status_code == 201, r.text
    ids = {}
    for value in (70, 75, 80):
        r = await clinic.journal.post(f"/patients/{patient_id}/observations", headers=nurse,
                                      json={"code": "8867-4", "value": value})
        ids.setdefault("pulse", []).append(r.json()["observation_id"])
    r = await clinic.journal.post(f"/patients/{patient_id}/observations", headers=nurse,
                                  json={"code": "8310-5", "value": 37.9})
    ids["temp"] = r.json()["observation_id"]
    r = await clinic.journal.post(f"/patients/{patient_id}/conditions", headers=nurse,
                                  json={"system": "ICPC-2", "code": "K86"})
    assert r.status_code == 201, r.text
    r = await clinic.journal.post(f"/patients/{patient_id}/critical-info", headers=nurse, json={
        "category": "drug_reaction", "substance": "Penicillin", "severity": "severe"})
    r = await clinic.journal.post(f"/patients/{patient_id}/notes?sign=true", headers=nurse,
                                  json={"kind": "home_care_visit", "text": "Besøk."})
    ids["token"] = r.headers["X-Consistency-Token"]
    return patient_id, national_id, ids


async def test_read_search_page_history_and_etag(clinic: Clinic):
    patient_id, national_id, ids = await _record(clinic)
    nurse = clinic.nurse() | {"X-Consistency-Token": ids["token"]}
    fhir = clinic.journal

    r = await fhir.get(f"/fhir/Patient/{patient_id}", headers=nurse)
    assert r.status_code == 200, r.text
    patient = valid(r.json())
    assert patient["identifier"][0]["value"] == national_id
    assert patient["identifier"][0]["system"] == IdentifierSystem.FNR
    assert r.headers["ETag"] == f'W/"{patient["meta"]["versionId"]}"'

    for rtype in ("Observation", "Condition", "AllergyIntolerance", "EpisodeOfCare",
                  "DocumentReference", "Composition", "Encounter", "Patient"):
        r = await fhir.get(f"/fhir/{rtype}", headers=nurse, params={"patient": patient_id})
        assert r.status_code == 200, (rtype, r.text)
        bundle = r.json()
        assert bundle["total"] >= 1, rtype
        for entry in bundle["entry"]:
            valid(entry["resource"])
        if rtype != "Patient":
            assert national_id not in r.text, rtype

    # code, paging: three pulses, two per page, newest first
    r = await fhir.get("/fhir/Observation", headers=nurse, params={
        "patient": f"Patient/{patient_id}", "code": "http://loinc.org|8867-4", "_count": 2})
    page = r.json()
    assert page["total"] == 3 and len(page["entry"]) == 2
    assert [e["resource"]["valueQuantity"]["value"] for e in page["entry"]] == [80, 75]
    nxt = next(link["url"] for link in page["link"] if link["relation"] == "next")
    r = await fhir.get(nxt.removeprefix("http://journal"), headers=nurse)
    assert [e["resource"]["valueQuantity"]["value"] for e in r.json()["entry"]] == [70]
    # date and status
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    r = await fhir.get("/fhir/Observation", headers=nurse,
                       params={"patient": patient_id, "date": f"ge{tomorrow}"})
    assert r.json()["total"] == 0
    r = await fhir.get("/fhir/Condition", headers=nurse,
                       params={"patient": patient_id, "status": "active"})
    assert r.json()["total"] == 1
    r = await fhir.get("/fhir/Observation", headers=nurse,
                       params={"patient": patient_id, "date": "yesterday"})
    assert r.status_code == 422
    r = await fhir.get("/fhir/Observation", headers=nurse)
    assert r.status_code == 422 and "patient is required" in r.text

    # a correction: a second version; _history has both, vread the first
    first = ids["pulse"][0]
    before = datetime.now(UTC)
    await asyncio.sleep(0.01)
    r = await fhir.post(f"/patients/{patient_id}/observations/{first}/corrections",
                        headers=nurse, json={"value": 71, "reason": "Feil tastet"})
    assert r.status_code == 201, r.text
    nurse["X-Consistency-Token"] = r.headers["X-Consistency-Token"]
    r = await fhir.get(f"/fhir/Observation/{first}", headers=nurse)
    assert r.headers["ETag"] == 'W/"2"'
    assert valid(r.json())["status"] == "amended"
    r = await fhir.get(f"/fhir/Observation/{first}/_history", headers=nurse)
    history = r.json()
    assert [e["resource"]["valueQuantity"]["value"] for e in history["entry"]] == [71, 70]
    r = await fhir.get(f"/fhir/Observation/{first}/_history/1", headers=nurse)
    assert r.json()["valueQuantity"]["value"] == 70
    r = await fhir.get(f"/fhir/Observation/{first}", headers=nurse,
                       params={"as_of": before.isoformat()})
    assert r.json()["valueQuantity"]["value"] == 70 and r.json()["status"] == "final"

    r = await fhir.get("/fhir/Medication", headers=nurse, params={"patient": patient_id})
    assert r.status_code == 404
    r = await fhir.get("/fhir/metadata")
    assert valid(r.json())["fhirVersion"] == "4.0.1"


def _observation(subject: str, code: str, value: float, unit: str, at: datetime) -> dict:
    return {"request": {"method": "POST", "url": "Observation"}, "resource": {
        "resourceType": "Observation", "id": f"obs-{code}-{value}", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                            "observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": subject}, "effectiveDateTime": at.isoformat(),
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org",
                          "code": unit}}}


async def test_transaction_bundles_are_all_or_nothing(clinic: Clinic):
    patient_id, _, ids = await _record(clinic)
    nurse = clinic.nurse() | {"X-Consistency-Token": ids["token"]}
    at = datetime.now(UTC) - timedelta(minutes=5)
    ok = {"resourceType": "Bundle", "type": "transaction", "entry": [
        _observation(f"Patient/{patient_id}", "9279-1", 16, "/min", at),
        _observation(f"Patient/{patient_id}", "59408-5", 97, "%", at)]}
    r = await clinic.journal.get(f"/patients/{patient_id}", headers=nurse)
    version = r.headers["ETag"]

    # one entry the journal cannot hold (a heart rate of 900/min): nothing is written
    bad = {**ok, "entry": [*ok["entry"], _observation(f"Patient/{patient_id}", "8867-4",
                                                      900, "/min", at)]}
    r = await clinic.journal.post("/fhir", headers=nurse, json=bad)
    assert r.status_code == 422 and "8867-4" in r.text, r.text

    r = await clinic.journal.post("/fhir", headers=nurse | {"If-Match": version}, json=ok)
    assert r.status_code == 200, r.text
    response = r.json()
    assert response["type"] == "transaction-response"
    assert [e["response"]["status"] for e in response["entry"]] == ["201 Created"] * 2
    token = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}

    # the same Bundle against the old version: 412, nothing written twice
    r = await clinic.journal.post("/fhir", headers=nurse | {"If-Match": version}, json=ok)
    assert r.status_code == 412, r.text
    r = await clinic.journal.get("/fhir/Observation", headers=nurse | token,
                                 params={"patient": patient_id, "code": "9279-1,59408-5"})
    assert r.json()["total"] == 2
    for loc in response["entry"]:
        r = await clinic.journal.get(f"/fhir/{loc['response']['location']}", headers=nurse)
        assert r.status_code == 200, r.text
        valid(r.json())

    # someone without need-to-know cannot write into the record
    stranger = clinic.pro("3334445", "987654325", org="999999999")
    r = await clinic.journal.post("/fhir", headers=stranger, json=ok)
    assert r.status_code == 403


async def test_a_transaction_with_a_patient_registers_them(clinic: Clinic):
    nid = clinic.synthetic(date(1950, 6, 1))
    patient = {"resourceType": "Patient", "id": "p1",
               "identifier": [{"system": IdentifierSystem.FNR, "value": nid}],
               "name": [{"family": "Berg", "given": ["Solveig"]}], "gender": "female",
               "birthDate": "1950-06-01",
               "address": [{"line": ["Fjordveien 2"], "postalCode": "5003", "city": "Bergen",
                            "_district": {"extension": [{
                                "url": "http://hl7.no/fhir/StructureDefinition/"
                                       "no-basis-municipalitycode",
                                "valueCoding": {"system": "urn:oid:2.16.578.1.12.4.1.1.3402",
                                                "code": "4601"}}]}}]}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:p1", "resource": patient,
         "request": {"method": "POST", "url": "Patient"}},
        _observation("urn:uuid:p1", "29463-7", 61.5, "kg", datetime.now(UTC))]}
    cw = clinic.case_worker()
    r = await clinic.journal.post("/fhir", headers=cw, json=bundle)
    assert r.status_code == 200, r.text
    location = r.json()["entry"][0]["response"]["location"]
    patient_id = location.removeprefix("Patient/")
    await clinic.until_allowed(cw, patient_id)
    r = await clinic.journal.get(f"/patients/{patient_id}", headers=cw)
    body = r.json()
    assert body["patient"]["address"]["municipality"] == "4601"
    assert body["latest_vital_signs"][0]["value"] == 61.5
    # sent again: the patient is known, so nothing new is registered or recorded twice
    r = await clinic.journal.post("/fhir", headers=cw, json=bundle)
    assert r.status_code == 200, r.text
    assert "X-Consistency-Token" not in r.headers      # nothing was appended
    r = await clinic.journal.get(f"/patients/{patient_id}/timeline", headers=cw)
    assert [e["event"] for e in r.json()["entries"]] == ["ObservationRecorded",
                                                         "PatientRegistered"]
