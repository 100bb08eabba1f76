"""A harvest of what the services emit as FHIR, for the HL7 validator (``test_validator.py``):
the demo seed's journal and medication lists (``cli/seed.py``) written through the services'
own APIs on the real stack, a consent, the FHIR writes (create, update, transaction, batch),
then every resource type each service's CapabilityStatement lists, searched for the seeded
people, with the search Bundles, a history Bundle, the CapabilityStatements (each service's and
the gateway's merged one), the CodeSystems and OperationOutcomes."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import httpx

from cli.seed import DEMO_NS, JOURNAL_PEOPLE, PEOPLE, seed_journal, seed_medication
from libs.kernel.identifiers import synthetic_number
from libs.web.gateway import merged_capability
from tests.gateway.test_one_base import on_a_port
from tests.journal.conftest import Clinic
from tests.journal.test_fhir_rest import patient_resource, weight
from tests.medication.test_imported import imported_body
from tests.support.waiting import passes

DOCTOR = ("7123456", "974600978", ("physician", "prescriber"))   # the seed's home-care doctor


def demo_people() -> dict[str, tuple[uuid.UUID, str]]:
    """The demo seed's Kari and Ola: patient id and (synthetic) national id."""
    out = {}
    for name, born, slot in PEOPLE:
        if name in JOURNAL_PEOPLE:
            pid = synthetic_number(born, slot)
            out[name] = (uuid.uuid5(DEMO_NS, pid), pid)
    return out


class Harvest:
    """Every FHIR JSON body collected, by a file name that says where it came from."""

    def __init__(self, c: Clinic):
        self.c = c
        self.bodies: dict[str, dict] = {}

    def keep(self, name: str, body: dict) -> None:
        self.bodies[f"{len(self.bodies):03d}-{name}.json"] = body

    def types(self) -> set[str]:
        return {b["resourceType"] for b in self.bodies.values()} | {
            e["resource"]["resourceType"] for b in self.bodies.values()
            if b["resourceType"] == "Bundle" for e in b.get("entry", []) if "resource" in e}

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for name, body in self.bodies.items():
            (folder / name).write_text(json.dumps(body, ensure_ascii=False, indent=1))
        return folder

    async def get(self, client: httpx.AsyncClient, path: str, headers: dict,
                  name: str, **params) -> dict:
        r = await client.get(path, headers=headers, params=params)
        assert r.status_code == 200, (path, r.text)
        self.keep(name, r.json())
        return r.json()


async def seed(c: Clinic) -> dict[str, tuple[uuid.UUID, str]]:
    """The demo seed's journal and medication lists for Kari and Ola, through the services'
    own APIs (served on ports for the seed's HTTP client), and a consent Kari gives."""
    people = demo_people()
    async with on_a_port(c.journal_app) as journal, on_a_port(c.medication_app) as medication:
        await asyncio.to_thread(seed_journal, f"http://{journal}", c.issuer, people)
        await asyncio.to_thread(seed_medication, f"http://{medication}", c.issuer, people)
    kari, number = people["Kari Nordmann"]

    async def consented() -> None:
        r = await c.consent.post(f"/patients/{kari}/consents", headers=c.citizen(number),
                                 json={"sector": "school", "recipient_org": "889640782",
                                       "categories": ["home_care"],
                                       "purpose": "oppfølging på skolen"})
        assert r.status_code == 201, r.text
    await passes(consented, timeout_s=30)
    return people


async def fhir_writes(h: Harvest, patient: uuid.UUID) -> None:
    """The journal's FHIR writes and their answers: create, update (a correction),
    transaction and batch responses, and a refusal's OperationOutcome."""
    c, nurse = h.c, h.c.nurse()
    subject = f"Patient/{patient}"
    r = await c.journal.post("/fhir/Observation", headers=nurse, json=weight(subject, 71.5))
    assert r.status_code == 201, r.text
    created = r.json()
    r = await c.journal.put(f"/fhir/Observation/{created['id']}", headers=nurse | {
        "If-Match": r.headers["ETag"]}, json=created | {
        "valueQuantity": created["valueQuantity"] | {"value": 72.5},
        "note": [{"text": "Veid på nytt med kalibrert vekt"}]})
    assert r.status_code == 200, r.text
    h.keep("Observation-corrected", r.json())
    r = await c.journal.post("/fhir/Condition", headers=nurse, json={
        "resourceType": "Condition", "subject": {"reference": subject},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icpc-2", "code": "K86"}]}})
    assert r.status_code == 201, r.text
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": weight(subject, 70.0), "request": {"method": "POST",
                                                        "url": "Observation"}}]}
    for kind in ("transaction", "batch"):
        r = await c.journal.post("/fhir", headers=nurse, json=bundle | {"type": kind})
        assert r.status_code == 200, r.text
        h.keep(f"Bundle-{kind}-response", r.json())
    r = await c.journal.get("/fhir/Observation", headers=nurse)   # no patient: refused
    assert r.status_code == 422 and r.json()["resourceType"] == "OperationOutcome", r.text
    h.keep("OperationOutcome-422", r.json())
    r = await c.journal.put(f"/fhir/Patient/{patient}", headers=nurse,
                            json=patient_resource("13031353453", "X") | {"id": str(patient)})
    assert r.status_code == 428, r.text
    h.keep("OperationOutcome-428", r.json())
    await recorded_care_plan(h, subject)


SCT = "http://snomed.info/sct"


def _posted(n: int, resource: dict) -> dict:
    return {"fullUrl": f"urn:uuid:0190f0a0-0000-7000-8000-0000000c{n:04d}",
            "resource": resource, "request": {"method": "POST",
                                              "url": resource["resourceType"]}}


async def recorded_care_plan(h: Harvest, subject: str) -> None:
    """A care plan as another record made it (Synthea's shape: SNOMED CT codes, a Goal, the
    Condition both address), written by a transaction and read back once the journal has it."""
    c, nurse, condition = h.c, h.c.nurse(), "urn:uuid:0190f0a0-0000-7000-8000-0000000c0001"
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        _posted(1, {"resourceType": "Condition", "subject": {"reference": subject},
                    "code": {"coding": [{"system": SCT, "code": "88805009", "display":
                                         "Chronic congestive heart failure (disorder)"}]},
                    "onsetDateTime": "2025-10-06T08:00:00+02:00"}),
        _posted(2, {"resourceType": "Goal", "lifecycleStatus": "accepted",
                    "achievementStatus": {"coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/goal-achievement",
                        "code": "in-progress"}]},
                    "description": {"text": "Bedre systolisk funksjon"},
                    "subject": {"reference": subject}, "addresses": [{"reference": condition}]}),
        _posted(3, {"resourceType": "CarePlan", "status": "active", "intent": "order",
                    "category": [{"coding": [{"system": SCT, "code": "735984001", "display":
                                              "Heart failure self management plan"}]}],
                    "subject": {"reference": subject}, "period": {"start": "2025-10-06"},
                    "addresses": [{"reference": condition}],
                    "goal": [{"reference": "urn:uuid:0190f0a0-0000-7000-8000-0000000c0002"}],
                    "activity": [{"detail": {"code": {"coding": [{
                        "system": SCT, "code": "183063000",
                        "display": "low salt diet education"}]}, "status": "in-progress"}}]})]}
    r = await c.journal.post("/fhir", headers=nurse, json=bundle)
    assert r.status_code == 200, r.text
    made = [e["response"]["location"] for e in r.json()["entry"]
            if e["response"]["location"].startswith(("CarePlan/", "Goal/"))]
    assert len(made) == 2, made

    async def readable() -> None:
        for location in made:
            found = await c.journal.get(f"/fhir/{location}", headers=nurse)
            assert found.status_code == 200, (location, found.text)
    await passes(readable, timeout_s=30)
    for location in made:
        await h.get(c.journal, f"/fhir/{location}", nurse, f"{location.split('/')[0]}-recorded")


async def harvest(c: Clinic, people: dict[str, tuple[uuid.UUID, str]]) -> Harvest:
    """Everything the three services answer over FHIR for the seeded people."""
    h = Harvest(c)
    nurse, doctor = c.nurse(), c.pro(DOCTOR[0], DOCTOR[1], DOCTOR[2])
    ola = people["Ola Nordmann"][0]
    await fhir_writes(h, ola)
    r = await c.medication.post("/fhir/MedicationStatement", headers=doctor,
                                json=imported_body(ola))   # another record's, RxNorm-coded
    assert r.status_code == 201, r.text
    h.keep("MedicationStatement-imported", r.json())
    services = {"journal": (c.journal, nurse), "medication": (c.medication, doctor),
                "consent": (c.consent, nurse)}
    statements = {name: await h.get(client, "/fhir/metadata", {}, f"{name}-metadata")
                  for name, (client, _) in services.items()}
    routes = {r["type"]: name for name, cs in statements.items()
              for rest in cs["rest"] for r in rest["resource"]}
    h.keep("gateway-metadata", merged_capability(statements, routes, date="2026-12-03",
                                                 base_url="http://127.0.0.1:8000/fhir"))
    for name, cs in statements.items():
        client, who = services[name]
        for rtype in sorted({r["type"] for rest in cs["rest"] for r in rest["resource"]}):
            if rtype == "CodeSystem":   # each read, and the search that lists them
                found = await h.get(client, "/fhir/CodeSystem", {}, "CodeSystem-searchset")
                for e in found["entry"]:
                    await h.get(client, f"/fhir/CodeSystem/{e['resource']['id']}", {},
                                f"CodeSystem-{e['resource']['id']}")
                continue
            for person, (patient, number) in people.items():
                # the access log: the patient reads their own
                reader = c.citizen(number) if rtype == "AuditEvent" else who
                await h.get(client, f"/fhir/{rtype}", reader, f"{name}-{rtype}-{person[:3]}",
                            patient=str(patient), _count="10")
    observation = next(e["resource"] for e in h.bodies.values() if e["resourceType"] == "Bundle"
                       for e in e.get("entry", [])
                       if e.get("resource", {}).get("resourceType") == "Observation")
    await h.get(c.journal, f"/fhir/Observation/{observation['id']}/_history", nurse,
                "Observation-history")
    return h


async def seeded_record_readable(c: Clinic, people: dict[str, tuple[uuid.UUID, str]]) -> None:
    """Wait for the exact condition the harvest needs: both people's seeded entries in the
    journal's and the medication service's FHIR read models, and Kari's consent."""
    nurse, doctor = c.nurse(), c.pro(DOCTOR[0], DOCTOR[1], DOCTOR[2])
    expected = {("journal", "Observation"): 4, ("journal", "Task"): 2,
                ("journal", "CarePlan"): 1, ("journal", "Goal"): 1,
                ("journal", "EpisodeOfCare"): 1,
                ("medication", "MedicationRequest"): 3}

    async def there() -> None:
        for (service, rtype), n in expected.items():
            client, who = (c.journal, nurse) if service == "journal" else (c.medication, doctor)
            for patient, _ in people.values():
                r = await client.get(f"/fhir/{rtype}", headers=who,
                                     params={"patient": str(patient)})
                assert r.status_code == 200 and len(r.json().get("entry", [])) >= n, \
                    (rtype, r.text[:300])
        kari = people["Kari Nordmann"][0]
        r = await c.consent.get("/fhir/Consent", headers=nurse, params={"patient": str(kari)})
        assert r.status_code == 200 and r.json().get("entry"), r.text[:300]
    await passes(there, timeout_s=60)
