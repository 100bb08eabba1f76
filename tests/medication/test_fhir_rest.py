"""The medication service's FHIR writes as an ordinary FHIR client makes them, on the real
stack: an order answered as ``Prefer`` asks (Location and the list's ETag either way; the FEST
code under its code-system URI or, as before, DMP's NamingSystem URL), the
OperationOutcome that says how a prescription changes instead of being replaced or deleted,
and content negotiation (FHIR JSON only, said in an outcome)."""

from __future__ import annotations

from services.medication.fhir.elements import FEST_ALSO
from tests.medication.conftest import APOCILLIN, IBUX, Ward
from tests.medication.test_fhir_api import order


async def test_an_order_answers_as_prefer_asks_and_is_changed_not_replaced(ward: Ward):
    c, fhir = ward.c, ward.med
    patient_id, _ = await ward.patient()
    version = await ward.version(patient_id)
    r = await fhir.post("/fhir/MedicationRequest", json=order(patient_id, IBUX),
                        headers=c.gp() | {"If-Match": version, "Prefer": "return=minimal"})
    assert r.status_code == 201 and r.content == b"", r.text
    ward.seen(r)
    assert r.headers["ETag"] == await ward.version(patient_id) != version
    path = r.headers["Location"].split("/fhir/")[1].split("/_history")[0]
    token = {"X-Consistency-Token": ward.token}
    r = await fhir.get(f"/fhir/{path}", headers=c.gp() | token)
    assert r.status_code == 200 and r.json()["status"] == "active", r.text

    # coded with DMP's NamingSystem URL, as clients did before FEST had a code-system URI
    old_coding = order(patient_id, APOCILLIN)
    old_coding["medicationCodeableConcept"]["coding"][0]["system"] = FEST_ALSO[0]
    r = await fhir.post("/fhir/MedicationRequest", json=old_coding,
                        headers=c.gp() | {"If-Match": await ward.version(patient_id),
                                          "Prefer": "return=OperationOutcome"})
    assert r.status_code == 201, r.text
    assert r.json()["issue"][0]["severity"] == "information"
    assert r.headers["Location"].split("/fhir/")[1].split("/")[0] == "MedicationRequest"

    r = await fhir.put(f"/fhir/{path}", headers=c.gp(), json=order(patient_id, IBUX))
    assert r.status_code == 405 and "/discontinue" in r.json()["issue"][0]["diagnostics"]
    r = await fhir.delete(f"/fhir/{path}", headers=c.gp())
    assert r.status_code == 405 and "never deleted" in r.json()["issue"][0]["diagnostics"]
    r = await fhir.delete(f"/fhir/{path}", headers=c.legevakt())   # no need-to-know
    assert r.status_code == 403

    r = await fhir.get(f"/fhir/{path}", headers=c.gp() | {"Accept": "application/fhir+xml"})
    assert r.status_code == 406 and r.json()["resourceType"] == "OperationOutcome"
    r = await fhir.get(f"/fhir/{path}", headers=c.gp(), params={"_format": "json"})
    assert r.status_code == 200, r.text
