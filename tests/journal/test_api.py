"""The journal's REST API on the real stack: refusals as clear 4xx, If-Match, need-to-know,
worklists, corrections in history, withheld entries, and every patient route guarded."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from libs.access.policy import OSLO
from libs.config import Settings
from libs.web.service import Options
from services.journal.app import create_app
from tests.journal.conftest import ALLOCATION, HOME_CARE, HOME_NURSING, Clinic
from tests.support.routes import patient_routes, unguarded_routes
from tests.support.waiting import passes


def outcome_text(r) -> str:
    body = r.json()
    assert body["resourceType"] == "OperationOutcome", body
    return " ".join(i["diagnostics"] for i in body["issue"])


async def _patient_with_home_care(clinic: Clinic) -> str:
    patient_id, _ = await clinic.register()
    await clinic.home_care_granted(patient_id)
    await clinic.until_allowed(clinic.nurse(), patient_id)
    return patient_id


async def test_refused_transitions_are_clear_4xx_and_change_nothing(clinic: Clinic):
    patient_id, national_id = await clinic.register()
    cw = clinic.case_worker()
    await clinic.until_allowed(cw, patient_id)
    base = f"/patients/{patient_id}"

    # the same national id twice: 409, and no second patient
    r = await clinic.journal.post("/patients", headers=cw, json={
        "national_id": national_id, "name": {"given": "A", "family": "B"}, "sex": "male",
        "address": {"municipality": "0301"}})
    assert r.status_code == 409, r.text
    assert national_id not in r.text

    # an invalid national id: 422 without echoing the number
    r = await clinic.journal.post("/patients", headers=cw, json={
        "national_id": "12345678901", "name": {"given": "A", "family": "B"}, "sex": "male",
        "address": {"municipality": "0301"}})
    assert r.status_code == 422 and "12345678901" not in r.text

    # a grant without an assessment
    r = await clinic.journal.post(f"{base}/services", headers=cw,
                                  json={"service_code": HOME_NURSING})
    decision = r.json()["decision_id"]
    r = await clinic.journal.post(f"{base}/services/{decision}/grant", headers=cw, json={
        "from_date": datetime.now(UTC).date().isoformat(), "provider": HOME_CARE,
        "scope": {"unit": "hours_per_week", "amount": 2}})
    assert r.status_code in (409, 422), r.text
    assert "assessment" in outcome_text(r).lower()

    # a signed note: signing it again is 409; correcting it without a reason is 422
    r = await clinic.journal.post(f"{base}/notes?sign=true", headers=cw,
                                  json={"kind": "nursing", "text": "Søknad mottatt."})
    assert r.status_code == 201, r.text
    note = r.json()["note_id"]
    r = await clinic.journal.post(f"{base}/notes/{note}/sign", headers=cw)
    assert r.status_code == 409 and "signed" in outcome_text(r)
    r = await clinic.journal.post(f"{base}/notes/{note}/corrections", headers=cw,
                                  json={"text": "Søknad mottatt 1. mars."})
    assert r.status_code == 422 and "reason" in outcome_text(r).lower()
    # a professional without an HPR number cannot document
    r = await clinic.journal.post(f"{base}/notes", headers=clinic.bearer(
        clinic.issuer.mint_practitioner(None, "123456785", ALLOCATION, ("other",), "Kontor")),
        json={"kind": "nursing", "text": "x"})
    assert r.status_code == 403, r.text

    # an implausible pulse, an unknown code, a future death: 422
    for path, body in ((f"{base}/observations", {"code": "8867-4", "value": 900}),
                       (f"{base}/conditions", {"system": "ICPC-2", "code": "X99X"}),
                       (f"{base}/death", {"deceased_on": "2999-01-01"})):
        r = await clinic.journal.post(path, headers=cw, json=body)
        assert r.status_code == 422, (path, r.text)

    # nothing above changed the record except the application and the note
    r = await clinic.journal.get(f"{base}/timeline", headers=cw)
    events = [e["event"] for e in r.json()["entries"]]
    assert sorted(events) == sorted(["PatientRegistered", "ServiceApplied", "NoteDrafted",
                                     "NoteSigned"])


async def test_if_match_on_a_stale_version_is_412_and_the_first_change_wins(clinic: Clinic):
    patient_id = await _patient_with_home_care(clinic)
    nurse = clinic.nurse()
    r = await clinic.journal.get(f"/patients/{patient_id}", headers=nurse)
    etag = r.headers["ETag"]
    first = await clinic.journal.post(f"/patients/{patient_id}/critical-info",
                                      headers=nurse | {"If-Match": etag},
                                      json={"category": "drug_reaction",
                                            "substance": "Penicillin"})
    assert first.status_code == 201, first.text
    second = await clinic.journal.post(f"/patients/{patient_id}/critical-info",
                                       headers=nurse | {"If-Match": etag},
                                       json={"category": "drug_reaction",
                                             "substance": "Ibuprofen"})
    assert second.status_code == 412, second.text
    assert first.headers["ETag"].strip('W/"') in outcome_text(second)
    r = await clinic.journal.post(f"/patients/{patient_id}/critical-info",
                                  headers=nurse | {"If-Match": "yesterday"},
                                  json={"category": "infection", "text": "MRSA"})
    assert r.status_code == 422
    r = await clinic.journal.get(f"/patients/{patient_id}", headers=nurse | {
        "X-Consistency-Token": first.headers["X-Consistency-Token"]})
    assert [c["substance"] for c in r.json()["critical_info"]] == ["Penicillin"]


async def test_unknown_and_forbidden_patients_look_the_same(clinic: Clinic):
    patient_id, national_id = await clinic.register()
    stranger = clinic.pro("3334445", "987654325", org="999999999")
    unknown = "0190a0b0-0000-7000-8000-000000000000"
    answers = []
    for pid in (patient_id, unknown):
        r = await clinic.journal.get(f"/patients/{pid}", headers=stranger)
        answers.append((r.status_code, outcome_text(r)))
        r = await clinic.journal.get(f"/fhir/Observation?patient={pid}", headers=stranger)
        answers.append((r.status_code, outcome_text(r)))
    assert answers[0] == answers[2] and answers[1] == answers[3]
    assert answers[0][0] == 403
    # looking up by national id: the same 404 for someone without need-to-know and for a
    # number nobody has
    r1 = await clinic.journal.post("/patients/$lookup", headers=stranger,
                                   json={"national_id": national_id})
    r2 = await clinic.journal.post("/patients/$lookup", headers=stranger,
                                   json={"national_id": clinic.synthetic()})
    assert (r1.status_code, r1.text) == (r2.status_code, r2.text) and r1.status_code == 404
    await clinic.until_allowed(clinic.case_worker(), patient_id)
    r = await clinic.journal.post("/patients/$lookup", headers=clinic.case_worker(),
                                  json={"national_id": national_id})
    assert r.status_code == 200 and r.json()["patient_id"] == patient_id


async def test_worklist_shows_todays_visits_and_completing_one_documents_it(clinic: Clinic):
    patient_id = await _patient_with_home_care(clinic)
    nurse = clinic.nurse()
    today = datetime.now(OSLO).date()
    due = {h: datetime.combine(today, time(h), OSLO) for h in (8, 20)}
    ids = {}
    for hour, when in due.items():
        r = await clinic.journal.post(f"/patients/{patient_id}/tasks", headers=nurse, json={
            "kind": "home_care_visit", "title": f"Besøk kl {hour}", "unit": HOME_CARE,
            "due_at": when.isoformat()})
        assert r.status_code == 201, r.text
        ids[hour] = r.json()["task_id"]
    r = await clinic.journal.post(f"/patients/{patient_id}/tasks", headers=nurse, json={
        "kind": "follow_up", "title": "Neste uke", "unit": HOME_CARE,
        "due_at": (due[8] + timedelta(days=7)).isoformat()})
    token = r.headers["X-Consistency-Token"]

    r = await clinic.journal.get("/worklist", headers=nurse | {"X-Consistency-Token": token})
    assert r.status_code == 200, r.text
    tasks = r.json()["tasks"]
    assert [t["task_id"] for t in tasks] == [ids[8], ids[20]]
    assert tasks[0]["patient"]["name"] == "Astrid Hansen"
    assert "national_id" not in str(tasks)

    r = await clinic.journal.get("/worklist", headers=nurse, params={"unit": ALLOCATION})
    assert r.status_code == 403

    # she marries and moves: the round shows her new name and address
    r = await clinic.journal.patch(f"/patients/{patient_id}", headers=nurse, json={
        "name": {"given": "Astrid", "family": "Lie"},
        "address": {"lines": ["Nyveien 3"], "municipality": "0301"}, "reason": "Giftet seg"})
    assert r.status_code == 200, r.text
    r = await clinic.journal.get("/worklist", headers=nurse | {
        "X-Consistency-Token": r.headers["X-Consistency-Token"]})
    assert {t["patient"]["name"] for t in r.json()["tasks"]} == {"Astrid Lie"}
    assert r.json()["tasks"][0]["patient"]["address"]["lines"] == ["Nyveien 3"]

    r = await clinic.journal.post(f"/patients/{patient_id}/tasks/{ids[8]}/complete",
                                  headers=nurse, json={"text": "Ga morgenmedisin."})
    assert r.status_code == 200, r.text
    note_id = r.json()["note_id"]
    token = r.headers["X-Consistency-Token"]
    r = await clinic.journal.get("/worklist", headers=nurse | {"X-Consistency-Token": token})
    assert [t["task_id"] for t in r.json()["tasks"]] == [ids[20]]
    r = await clinic.journal.get(f"/patients/{patient_id}/notes", headers=nurse)
    [note] = [n for n in r.json()["notes"] if n["note_id"] == note_id]
    assert note["status"] == "signed" and note["text"] == "Ga morgenmedisin."
    r = await clinic.journal.post(f"/patients/{patient_id}/tasks/{ids[8]}/complete",
                                  headers=nurse, json={"text": "igjen"})
    assert r.status_code == 409


async def test_a_correction_keeps_the_original_and_its_reason_in_history(clinic: Clinic):
    patient_id = await _patient_with_home_care(clinic)
    nurse = clinic.nurse()
    r = await clinic.journal.post(f"/patients/{patient_id}/notes?sign=true", headers=nurse,
                                  json={"kind": "nursing", "text": "Blodtrykk 120/80."})
    note = r.json()["note_id"]
    r = await clinic.journal.post(f"/patients/{patient_id}/notes/{note}/corrections",
                                  headers=nurse, json={"text": "Blodtrykk 140/90.",
                                                       "reason": "Feil avlest"})
    assert r.status_code == 201, r.text
    token = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
    r = await clinic.journal.get(f"/patients/{patient_id}/notes", headers=nurse | token)
    [shown] = r.json()["notes"]
    assert shown["text"] == "Blodtrykk 140/90." and shown["corrected"]
    assert [(v["text"], v["reason"]) for v in shown["versions"]] == [
        ("Blodtrykk 120/80.", None), ("Blodtrykk 140/90.", "Feil avlest")]
    r = await clinic.journal.get(f"/patients/{patient_id}/timeline", headers=nurse)
    kinds = [e["event"] for e in r.json()["entries"][:3]]
    assert kinds == ["NoteCorrected", "NoteSigned", "NoteDrafted"]
    # FHIR: the DocumentReference has both versions in _history
    r = await clinic.journal.get(f"/fhir/DocumentReference/{note}/_history", headers=nurse)
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 3     # drafted, signed, corrected


async def test_a_locked_entry_is_withheld_from_clinicians(clinic: Clinic):
    patient_id = await _patient_with_home_care(clinic)
    nurse = clinic.nurse()
    r = await clinic.journal.post(f"/patients/{patient_id}/notes?sign=true", headers=nurse,
                                  json={"kind": "nursing", "text": "Sensitivt."})
    note = r.json()["note_id"]
    r = await clinic.journal.get(f"/patients/{patient_id}", headers=clinic.case_worker())
    # the patient locks the note (through the consent service)
    r = await clinic.consent.post(f"/patients/{patient_id}/restrictions",
                                  headers=clinic.citizen(await _pid(clinic, patient_id)),
                                  json={"target": note})
    assert r.status_code == 201, r.text
    token = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}

    async def withheld():
        r = await clinic.journal.get(f"/patients/{patient_id}/notes", headers=nurse | token)
        # the token is the consent's; the journal's read model may not have the note yet
        assert len(r.json()["notes"]) == 1, r.text
        [shown] = r.json()["notes"]
        assert shown == {"id": note, "section": "notes", "withheld": True,
                         "message": shown["message"]}
    await passes(withheld)
    r = await clinic.journal.get(f"/fhir/DocumentReference/{note}", headers=nurse)
    assert r.status_code == 403


async def _pid(clinic: Clinic, patient_id: str) -> str:
    r = await clinic.journal.get(f"/patients/{patient_id}", headers=clinic.case_worker())
    return r.json()["patient"]["national_id"]


def test_every_patient_route_is_guarded(tmp_path):
    """A route with a patient in its path depends on ``guarded`` or decides itself."""
    app = create_app(Settings(environment="test", dev_key_path=tmp_path / "k.pem"),
                     Options(telemetry=False))
    assert len(patient_routes(app)) >= 20   # the walk sees the included routers
    assert unguarded_routes(app, ("access.require(", "access.record(", "_allowed(",
                                  "_resolve(", "tx.run("),
                            also=("/worklist", "/patients/$lookup", "/messages",
                                  "/messages/{message_id}/receipt")) == []
