"""A care plan and its goals as another record made them (Synthea's shape: SNOMED CT codes, a
Goal, the Condition both address), written to the journal by a FHIR transaction on the real
stack and read back as CarePlan and Goal: read, search by patient, in the CapabilityStatement.
A bundle the journal cannot hold whole is a 422 OperationOutcome that says why, and nothing of
it is written."""

from __future__ import annotations

from datetime import date

from tests.journal.conftest import Clinic
from tests.journal.test_fhir_rest import _transaction, patient_resource
from tests.support.waiting import passes

SCT = "http://snomed.info/sct"
ACHIEVEMENT = "http://terminology.hl7.org/CodeSystem/goal-achievement"


def condition(subject: str) -> dict:
    return {"resourceType": "Condition", "subject": {"reference": subject},
            "code": {"coding": [{"system": SCT, "code": "88805009",
                                 "display": "Chronic congestive heart failure (disorder)"}]},
            "onsetDateTime": "2025-10-06T08:00:00+02:00"}


def goal(subject: str, *addresses: str) -> dict:
    return {"resourceType": "Goal", "lifecycleStatus": "accepted",
            "achievementStatus": {"coding": [{"system": ACHIEVEMENT, "code": "in-progress"}]},
            "description": {"text": "Bedre systolisk funksjon"}, "subject": {"reference": subject},
            "addresses": [{"reference": a} for a in addresses]}


def care_plan(subject: str, goals: tuple[str, ...], addresses: tuple[str, ...],
              status: str = "active") -> dict:
    return {"resourceType": "CarePlan", "status": status, "intent": "order",
            "category": [{"coding": [{"system": SCT, "code": "735984001",
                                      "display": "Heart failure self management plan"}]}],
            "subject": {"reference": subject}, "period": {"start": "2025-10-06"},
            "addresses": [{"reference": a} for a in addresses],
            "goal": [{"reference": g} for g in goals],
            "activity": [{"detail": {"code": {"coding": [{
                "system": SCT, "code": "183063000", "display": "low salt diet education"}]},
                "status": "in-progress"}},
                {"detail": {"code": {"coding": [{"system": SCT, "code": "183301007",
                                                 "display": "physical exercise"}]},
                            "status": "completed"}}]}


async def test_a_recorded_care_plan_and_its_goal_read_back_as_fhir(clinic: Clinic):
    cw = clinic.case_worker()
    bundle = _transaction(
        ("urn:uuid:p", patient_resource(clinic.synthetic(date(1950, 6, 1)), "Wolf")),
        ("urn:uuid:c", condition("urn:uuid:p")),
        ("urn:uuid:g", goal("urn:uuid:p", "urn:uuid:c")),
        ("urn:uuid:cp", care_plan("urn:uuid:p", ("urn:uuid:g",),
                                  ("urn:uuid:c", "Condition/not-in-the-bundle"))))
    r = await clinic.journal.post("/fhir", headers=cw, json=bundle)
    assert r.status_code == 200, r.text
    where = {loc.split("/")[0]: loc for loc in (e["response"]["location"]
                                                for e in r.json()["entry"])}
    patient = where["Patient"].removeprefix("Patient/")
    await clinic.until_allowed(cw, patient)

    async def both_readable() -> None:
        for rtype in ("CarePlan", "Goal"):
            found = await clinic.journal.get(f"/fhir/{where[rtype]}", headers=cw)
            assert found.status_code == 200, (rtype, found.text)
    await passes(both_readable, timeout_s=30)

    plan = (await clinic.journal.get(f"/fhir/{where['CarePlan']}", headers=cw)).json()
    assert (plan["status"], plan["intent"], plan["title"]) == (
        "active", "order", "Heart failure self management plan")
    assert plan["category"][0]["coding"][0]["code"] == "735984001"
    assert plan["period"] == {"start": "2025-10-06"}
    assert [(a["detail"]["code"]["coding"][0]["code"], a["detail"]["status"])
            for a in plan["activity"]] == [("183063000", "in-progress"), ("183301007", "completed")]
    # the condition in the bundle, by the id the server gave it; the one elsewhere is left out
    assert plan["addresses"] == [{"reference": where["Condition"]}]
    assert plan["goal"] == [{"reference": where["Goal"]}]
    read = (await clinic.journal.get(f"/fhir/{where['Goal']}", headers=cw)).json()
    assert (read["lifecycleStatus"], read["achievementStatus"]["coding"][0]["code"],
            read["description"]["text"]) == ("accepted", "in-progress", "Bedre systolisk funksjon")
    assert read["addresses"] == [{"reference": where["Condition"]}]
    assert read["subject"] == {"reference": f"Patient/{patient}"}

    for rtype in ("CarePlan", "Goal"):
        page = (await clinic.journal.get(f"/fhir/{rtype}", headers=cw,
                                         params={"patient": patient})).json()
        assert [e["resource"]["id"] for e in page["entry"]] == [where[rtype].split("/")[1]]
    metadata = (await clinic.journal.get("/fhir/metadata")).json()
    assert {"CarePlan", "Goal"} <= {x["type"] for x in metadata["rest"][0]["resource"]}

    # a goal no care plan names, or a draft plan: refused whole, with the reason, nothing kept
    subject = f"Patient/{patient}"
    for refused, why in (
            (_transaction(("urn:uuid:g2", goal(subject))), "no kept care plan of the bundle"),
            (_transaction(("urn:uuid:cp2", care_plan(subject, (), (), status="draft"))),
             "CarePlan: status 'draft' is not a plan in force")):
        r = await clinic.journal.post("/fhir", headers=cw, json=refused)
        assert r.status_code == 422, r.text
        assert r.json()["resourceType"] == "OperationOutcome" and why in r.text, r.text
    for rtype in ("CarePlan", "Goal"):
        page = (await clinic.journal.get(f"/fhir/{rtype}", headers=cw,
                                         params={"patient": patient})).json()
        assert page["total"] == 1, rtype
