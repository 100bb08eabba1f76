"""Messaging on the real stack (requirements 27-29): the gateway delivers a GP's dialogmelding,
every message gets one application receipt, a repeat is ignored, the question becomes a reply
task on the home-care worklist, and the nurse's answer completes it and goes out as an event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.journal.conftest import Clinic

GATEWAY = "dev-edi-gateway"
SYKEPLEIE_HER = "8140001"      # our Sykepleietjeneste PO (demo party, home-care unit)
GP = {"her_id": "123456", "name": "Legekontoret Sentrum"}


def _question(national_id: str, message_id: str = "msg-1", **more) -> dict:
    return {"message_id": message_id, "kind": "dialogmelding", "dialog_type": "foresporsel",
            "sender": GP, "receiver_her": SYKEPLEIE_HER, "subject": "Blodtrykk",
            "text": "Kan dere måle blodtrykket daglig denne uken?",
            "sent_at": (datetime.now(UTC) - timedelta(minutes=2)).isoformat(),
            "patient": {"national_id": national_id}} | more


async def test_a_gps_question_is_receipted_once_answered_and_its_task_completed(
        clinic: Clinic):
    patient_id, national_id = await clinic.register()
    await clinic.home_care_granted(patient_id)
    nurse = clinic.nurse()
    await clinic.until_allowed(nurse, patient_id)
    gate = clinic.bearer(clinic.issuer.mint_device(GATEWAY))

    r = await clinic.journal.post("/messages", headers=gate, json=_question(national_id))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "ok"
    token = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
    again = await clinic.journal.post("/messages", headers=gate, json=_question(national_id))
    assert again.status_code == 200 and again.json() == r.json()    # ignored, same receipt

    r = await clinic.journal.get(f"/patients/{patient_id}/messages", headers=nurse | token,
                                 params={"unanswered": True})
    [question] = r.json()["messages"]
    assert question["text"].startswith("Kan dere") and question["reply_task_id"]

    # the reply task is on the home-care worklist on its due day (3 working days)
    r = await clinic.journal.get(f"/patients/{patient_id}", headers=nurse | token)
    [task] = [t for t in r.json()["open_tasks"] if t["kind"] == "message_reply"]
    due = datetime.fromisoformat(task["due_at"])
    assert due.weekday() < 5 and due > datetime.now(UTC)
    r = await clinic.journal.get("/worklist", headers=nurse | token,
                                 params={"day": due.date().isoformat()})
    assert task["task_id"] in [t["task_id"] for t in r.json()["tasks"]]

    # the nurse answers: the task is done, the answer is a journal document going out
    r = await clinic.journal.post(f"/patients/{patient_id}/messages", headers=nurse, json={
        "kind": "dialogmelding", "dialog_type": "svar", "to": GP, "in_reply_to": "msg-1",
        "text": "Ja, vi måler morgen og kveld."})
    assert r.status_code == 201, r.text
    answer_id = r.json()["message_id"]
    token = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
    r = await clinic.journal.get(f"/patients/{patient_id}/messages", headers=nurse | token,
                                 params={"unanswered": True})
    assert r.json()["messages"] == []
    r = await clinic.journal.get(f"/patients/{patient_id}", headers=nurse | token)
    assert not [t for t in r.json()["open_tasks"] if t["kind"] == "message_reply"]
    events = await clinic.journal_app.state.store.load(f"journal-{patient_id}")
    sent = [env for env, _ in events if env.type == "journal.MessageSent"]
    assert [e.data["message_id"] for e in sent] == [answer_id]
    assert sent[0].data["sender_her"] == SYKEPLEIE_HER
    assert national_id not in sent[0].model_dump_json()

    # the GP system's receipt for our answer
    r = await clinic.journal.post(f"/messages/{answer_id}/receipt", headers=gate,
                                  json={"status": "ok"})
    assert r.status_code == 200 and r.json()["recorded"], r.text
    r = await clinic.journal.post("/messages/no-such/receipt", headers=gate,
                                  json={"status": "ok"})
    assert r.status_code == 404


async def test_messages_we_cannot_take_get_an_error_receipt(clinic: Clinic):
    patient_id, national_id = await clinic.register()
    gate = clinic.bearer(clinic.issuer.mint_device(GATEWAY))
    cases = {
        "attachment": _question(national_id, "m-a", attachments=1),
        "unknown receiver": _question(national_id, "m-b", receiver_her="999"),
        "unknown patient": _question(clinic.synthetic(), "m-c"),
    }
    for what, body in cases.items():
        r = await clinic.journal.post("/messages", headers=gate, json=body)
        assert r.status_code == 422, (what, r.text)
        assert "Applikasjonskvittering" in r.text, what
        assert body["patient"]["national_id"] not in r.text
    # the same bad message again: the same answer, no second receipt in the record
    r = await clinic.journal.post("/messages", headers=gate, json=cases["attachment"])
    assert r.status_code == 422
    events = await clinic.journal_app.state.store.load(f"journal-{patient_id}")
    receipts = [env for env, _ in events if env.type == "journal.ApplicationReceiptSent"]
    assert len(receipts) == 1 and receipts[0].data["status"] == "error"

    # only the gateway delivers
    r = await clinic.journal.post("/messages", headers=clinic.nurse(),
                                  json=_question(national_id, "m-d"))
    assert r.status_code == 403
    other = clinic.bearer(clinic.issuer.mint_device("some-sensor"))
    r = await clinic.journal.post("/messages", headers=other, json=_question(national_id, "m-e"))
    assert r.status_code == 403


async def test_a_referral_to_a_unit_gives_it_a_time_limited_care_relation(clinic: Clinic):
    """Issue 12: an inbound henvisning or epikrise (no question, so no reply task) addressed to
    the home-care unit's communication party is a fact that the unit takes part in the
    patient's care: the consent service starts a 30-day relation for it, from the journal."""
    patient_id, national_id = await clinic.register()
    nurse = clinic.nurse()
    assert not await clinic.can(nurse, patient_id)     # no episode, decision or message yet
    gate = clinic.bearer(clinic.issuer.mint_device(GATEWAY))
    r = await clinic.journal.post("/messages", headers=gate, json=_question(
        national_id, "epi-1", kind="epikrise", dialog_type=None, subject="Epikrise",
        text="Utskrevet fra medisinsk avdeling. Trenger sårstell daglig."))
    assert r.status_code == 201, r.text
    await clinic.until_allowed(nurse, patient_id)
    events = await clinic.consent_app.state.store.load(f"access-{patient_id}")
    [rel] = [env.data for env, _ in events if env.type == "consent.CareRelationStarted"
             and env.data["basis"] == "referral"]
    assert (rel["unit"], rel["source"], rel["basis_ref"]) == ("974600978", "journal", "epi-1")
    started = datetime.fromisoformat(rel["started_at"])
    assert datetime.fromisoformat(rel["ends_at"]) - started == timedelta(days=30)
