"""The journal's FHIR writes as an ordinary FHIR client makes them, on the real stack: ids the
server assigns (two clients numbering their entries ``urn:uuid:1`` never collide; an entry
without ``fullUrl`` is taken), type-level create with Location, ETag and ``Prefer``,
conditional create, update of a Patient with If-Match, the OperationOutcome that says what
the record does instead of replacing or deleting an entry, content negotiation, and batch
Bundles answered entry by entry."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

from libs.kernel.identifiers import IdentifierSystem
from tests.journal.conftest import Clinic
from tests.support.waiting import passes

MUNICIPALITY_EXT = "http://hl7.no/fhir/StructureDefinition/no-basis-municipalitycode"


def patient_resource(number: str, family: str) -> dict:
    return {"resourceType": "Patient",
            "identifier": [{"system": IdentifierSystem.FNR, "value": number}],
            "name": [{"family": family, "given": ["Solveig"]}], "gender": "female",
            "birthDate": "1950-06-01",
            "address": [{"line": ["Fjordveien 2"], "postalCode": "5003", "city": "Bergen",
                         "_district": {"extension": [{
                             "url": MUNICIPALITY_EXT,
                             "valueCoding": {"system": IdentifierSystem.MUNICIPALITY,
                                             "code": "4601"}}]}}]}


def weight(subject: str, kg: float) -> dict:
    return {"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                "observation-category", "code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "subject": {"reference": subject}, "effectiveDateTime": datetime.now(UTC).isoformat(),
            "valueQuantity": {"value": kg, "unit": "kg", "system": "http://unitsofmeasure.org",
                              "code": "kg"}}


def _transaction(*entries: tuple[str | None, dict]) -> dict:
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        ({"fullUrl": url} if url else {}) | {
            "resource": r, "request": {"method": "POST", "url": r["resourceType"]}}
        for url, r in entries]}


async def test_two_clients_numbering_their_entries_alike_get_ids_of_their_own(clinic: Clinic):
    cw = clinic.case_worker()
    born = date(1950, 6, 1)
    created = []
    for family, kg in (("Berg", 61.5), ("Dahl", 80.0)):    # two people, the same numbering
        bundle = _transaction(("urn:uuid:1", patient_resource(clinic.synthetic(born), family)),
                              ("urn:uuid:2", weight("urn:uuid:1", kg)),
                              (None, weight("urn:uuid:1", kg + 1)))   # no fullUrl, no id
        r = await clinic.journal.post("/fhir", headers=cw, json=bundle)
        assert r.status_code == 200, r.text
        created.append([e["response"]["location"] for e in r.json()["entry"]])
        await clinic.until_allowed(cw, created[-1][0].removeprefix("Patient/"))
        again = await clinic.journal.post("/fhir", headers=cw, json=bundle)
        assert again.status_code == 200, again.text      # sent again: nothing twice
        assert [e["response"]["location"] for e in again.json()["entry"]] == created[-1]
        assert "X-Consistency-Token" not in again.headers
    first, second = created
    assert len(set(first) | set(second)) == 6, created
    for locations, kg in zip(created, (61.5, 80.0)):
        patient_id = locations[0].removeprefix("Patient/")
        r = await clinic.journal.get(f"/patients/{patient_id}/timeline", headers=cw)
        assert [e["event"] for e in r.json()["entries"]].count("ObservationRecorded") == 2
        r = await clinic.journal.get(f"/patients/{patient_id}", headers=cw)
        assert r.json()["patient"]["name"]["family"] == ("Berg" if kg == 61.5 else "Dahl")


async def test_type_level_create_answers_location_etag_and_what_prefer_asks(clinic: Clinic):
    cw = clinic.case_worker()
    number = clinic.synthetic(date(1950, 6, 1))
    r = await clinic.journal.post("/fhir/Patient", headers=cw,
                                  json=patient_resource(number, "Lie") | {"id": "mine"})
    assert r.status_code == 201, r.text
    patient = r.json()
    assert patient["resourceType"] == "Patient" and patient["id"] != "mine"
    assert r.headers["Location"].endswith(f"/fhir/Patient/{patient['id']}/_history/1")
    assert r.headers["ETag"] == 'W/"1"' == f'W/"{patient["meta"]["versionId"]}"'
    await clinic.until_allowed(cw, patient["id"])
    r = await clinic.journal.get(r.headers["Location"].removeprefix("http://journal"),
                                 headers=cw)
    assert r.status_code == 200 and r.json()["identifier"][0]["value"] == number

    # conditional create: the patient registered with that number is the answer
    r = await clinic.journal.post("/fhir/Patient", headers=cw | {
        "If-None-Exist": f"identifier={IdentifierSystem.FNR}|{number}"},
        json=patient_resource(number, "Lie"))
    assert r.status_code == 200 and r.json()["id"] == patient["id"], r.text
    r = await clinic.journal.post("/fhir/Observation", headers=cw | {
        "If-None-Exist": "code=29463-7"}, json=weight(f"Patient/{patient['id']}", 70))
    assert r.status_code == 422 and "If-None-Exist" in r.text

    # update with If-Match on the Patient's version: a new version; a stale one is a 412
    path = f"/fhir/Patient/{patient['id']}"
    moved = patient_resource(number, "Lie-Berg") | {"id": patient["id"]}
    r = await clinic.journal.put(path, headers=cw, json=moved)
    assert r.status_code == 428, r.text
    r = await clinic.journal.put(path, headers=cw | {"If-Match": 'W/"1"'}, json=moved)
    assert r.status_code == 200, r.text
    assert r.json()["name"][0]["family"] == "Lie-Berg" and r.headers["ETag"] == 'W/"2"'
    r = await clinic.journal.put(path, headers=cw | {"If-Match": 'W/"1"'},
                                 json=moved | {"gender": "other"})
    assert r.status_code == 412 and 'W/"2"' in r.json()["issue"][0]["diagnostics"], r.text
    r = await clinic.journal.put(path, headers=cw | {"If-Match": 'W/"2"'},
                                 json=moved | {"id": "another"})
    assert r.status_code == 422, r.text
    r = await clinic.journal.put(path, headers=cw | {"If-Match": 'W/"2"'},   # checked as a
                                 json=moved | {"gender": 5})                 # create is
    assert r.status_code == 422 and "not a valid FHIR R4 Patient: gender: " in r.text, r.text
    r = await clinic.journal.get(f"{path}/_history", headers=cw)
    assert [e["resource"]["name"][0]["family"] for e in r.json()["entry"]] == ["Lie-Berg", "Lie"]

    subject = f"Patient/{patient['id']}"
    r = await clinic.journal.post("/fhir/Observation", headers=cw | {
        "Prefer": "return=minimal"}, json=weight(subject, 70.5))
    assert r.status_code == 201 and r.content == b"", r.text
    observation = r.headers["Location"].split("/fhir/")[1].split("/_history")[0]
    r = await clinic.journal.post("/fhir/Observation", headers=cw | {
        "Prefer": "return=OperationOutcome"}, json=weight(subject, 71.5))
    assert r.status_code == 201 and r.json()["resourceType"] == "OperationOutcome", r.text
    assert r.json()["issue"][0]["severity"] == "information"
    r = await clinic.journal.get(f"/fhir/{observation}", headers=cw)
    assert r.json()["valueQuantity"]["value"] == 70.5 and r.headers["ETag"] == 'W/"1"'

    # what the record does instead of replacing or deleting an entry, said in an outcome
    r = await clinic.journal.put(f"/fhir/{observation}", headers=cw,
                                 json=weight(subject, 72) | {"id": observation.split("/")[1]})
    assert r.status_code == 428, r.text   # an update is a correction (tests/fhir): If-Match
    r = await clinic.journal.delete(f"/fhir/{observation}", headers=cw)
    assert r.status_code == 405 and "entered-in-error" in r.text, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    stranger = clinic.pro("3334445", "987654325", org="999999999")
    for r in (await clinic.journal.delete(f"/fhir/{observation}", headers=stranger),
              await clinic.journal.post("/fhir/Observation", headers=stranger,
                                        json=weight(subject, 99))):
        assert r.status_code == 403, r.text
    r = await clinic.journal.post("/fhir/Composition", headers=cw,
                                  json={"resourceType": "Composition"})
    assert r.status_code == 405 and "corrected, not overwritten" in r.text
    r = await clinic.journal.post("/fhir/Observation", headers=cw, json=patient_resource(
        number, "Lie"))
    assert r.status_code == 422 and "takes a Observation" in r.text
    odd = weight(subject, 73) | {"contained": [{"resourceType": None}]}   # hostile, not a 500
    r = await clinic.journal.post("/fhir/Observation", headers=cw, json=odd)
    assert r.status_code == 422 and "not the name of a type" in r.text, r.text
    r = await clinic.journal.post("/fhir/Observation", headers=cw,   # named as it was sent
                                  json=weight(subject, 74) | {"status": 5})
    assert r.status_code == 422 and r.json()["resourceType"] == "OperationOutcome", r.text
    assert "not a valid FHIR R4 Observation: status: " in r.text and "Bundle" not in r.text

    # content negotiation: FHIR JSON, by _format or Accept; XML is refused in an outcome
    for params, accept, status in (({"_format": "json"}, "application/fhir+json", 200),
                                   ({"_format": "application/fhir+json"}, "*/*", 200),
                                   ({"_format": "xml"}, "*/*", 406),
                                   ({}, "application/fhir+xml", 406)):
        r = await clinic.journal.get(f"/fhir/{observation}", params=params,
                                     headers=cw | {"Accept": accept})
        assert r.status_code == status, (params, accept, r.text)
        assert r.headers["content-type"].startswith("application/fhir+json")
    r = await clinic.journal.post("/fhir/Observation", content=b"<Observation/>", headers=cw | {
        "Content-Type": "application/fhir+xml"})
    assert r.status_code == 415 and r.json()["resourceType"] == "OperationOutcome"


async def test_a_batch_answers_each_entry_on_its_own(clinic: Clinic):
    cw = clinic.case_worker()
    r = await clinic.journal.post("/fhir/Patient", headers=cw, json=patient_resource(
        clinic.synthetic(date(1950, 6, 1)), "Moe"))
    assert r.status_code == 201, r.text
    subject = f"Patient/{r.json()['id']}"
    await clinic.until_allowed(cw, r.json()["id"])
    implausible = weight(subject, 900.0)   # a body weight the journal's range refuses
    batch = _transaction((None, weight(subject, 66.0)),
                         (None, weight("Patient/0190f0a0-0000-7000-8000-00000000dead", 50)),
                         (None, implausible),
                         (None, patient_resource(clinic.synthetic(date(1950, 6, 1)), "Vik")))
    r = await clinic.journal.post("/fhir", headers=cw, json=batch | {"type": "batch"})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in answer["entry"]]
    assert statuses == ["201 Created", "403", "422", "201 Created"], answer
    assert "29463-7" in answer["entry"][2]["response"]["outcome"]["issue"][0]["diagnostics"]
    observation = answer["entry"][0]["response"]["location"]

    async def written():
        r = await clinic.journal.get(f"/fhir/{observation}", headers=cw)
        assert r.status_code == 200 and r.json()["valueQuantity"]["value"] == 66.0, r.text
    await passes(written)   # a batch answer names no one write to wait for: wait for this one


async def test_two_updates_with_the_same_if_match_let_one_through(clinic: Clinic):
    """Both updates find version 1 current in the read model; the record decides: one changes
    the patient, the other is a 412 (no silent overwrite), whichever order they land in."""
    cw = clinic.case_worker()
    r = await clinic.journal.post("/fhir/Patient", headers=cw, json=patient_resource(
        clinic.synthetic(date(1950, 6, 1)), "Lie"))
    assert r.status_code == 201, r.text
    patient = r.json()
    await clinic.until_allowed(cw, patient["id"])
    path, stale = f"/fhir/Patient/{patient['id']}", cw | {"If-Match": 'W/"1"'}
    base = patient_resource(patient["identifier"][0]["value"], "Lie") | {"id": patient["id"]}
    answers = await asyncio.gather(
        clinic.journal.put(path, headers=stale, json=base | {"gender": "other"}),
        clinic.journal.put(path, headers=stale, json=patient_resource(
            patient["identifier"][0]["value"], "Hagen") | {"id": patient["id"]}))
    assert sorted(a.status_code for a in answers) == [200, 412], [a.text for a in answers]
    won = next(a for a in answers if a.status_code == 200).json()
    lost = next(a for a in answers if a.status_code == 412).json()
    assert "has changed" in lost["issue"][0]["diagnostics"]
    r = await clinic.journal.get(path, headers=cw | {
        "X-Consistency-Token": next(a for a in answers if a.status_code == 200
                                    ).headers["X-Consistency-Token"]})
    now = r.json()
    assert (now["gender"], now["name"][0]["family"]) == (won["gender"], won["name"][0]["family"])
    assert (won["gender"] == "other") != (won["name"][0]["family"] == "Hagen")
