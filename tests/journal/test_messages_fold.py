"""Messages folded and mapped: every event the message decisions produce folds into the state
they read, and FHIR sees exactly what changed."""

from __future__ import annotations



from services.journal.fhir import to_fhir as fhir
from services.journal import contract as ev
from services.journal.domain import messages as msg
from services.journal.domain import messages_state as ms
from services.journal.domain import patients as pt
from tests.journal.support import NOW, then
from tests.journal.test_domain_messages import FRIDAY_15, HOSPITAL, P, patient, receive, send


# --- fold and FHIR ---------------------------------------------------------------------------

def test_folding_all_produced_events_gives_the_state_the_decisions_read():
    produced: list[ev.EventPayload] = []
    p = patient()

    def run(events):
        nonlocal p
        produced.extend(events)
        p = then(p, events)

    run(receive(p, now=FRIDAY_15))
    run(receive(p, message_id="BAD", attachments=1))
    run(send(p, dialog_type="svar", in_reply_to="DM-1"))
    run(send(p, kind="henvisning", dialog_type=None, to=HOSPITAL, attachments=1))
    run(msg.receive_receipt(p, msg.ReceiveReceipt(message_id=p.messages[-1].message_id,
                                                  status="ok"), NOW))
    run(send(p, kind="foresporsel", dialog_type=None, to=HOSPITAL, text="Dato for kontroll?"))
    run(receive(p, message_id="SV-1", kind="svar_pa_foresporsel", dialog_type=None,
                sender=HOSPITAL, in_reply_to=p.messages[-1].message_id))
    assert patient(*produced) == p
    for e in produced:  # every event survives its wire form
        assert type(e).model_validate_json(e.model_dump_json()) == e
    assert [type(e).__name__ for e in produced] == [
        "MessageReceived", "ApplicationReceiptSent", "TaskCreated", "ApplicationReceiptSent",
        "MessageSent", "TaskCompleted", "MessageSent", "ApplicationReceiptReceived",
        "MessageSent", "MessageReceived", "ApplicationReceiptSent"]
    assert all(e.topic == "journal.events" for e in produced)
    assert [(m.direction, m.kind, m.receipt, m.answered_by) for m in p.messages] == [
        ("in", "dialogmelding", "ok", p.messages[1].message_id),
        ("out", "dialogmelding", "pending", None), ("out", "henvisning", "ok", None),
        ("out", "foresporsel", "pending", "SV-1"), ("in", "svar_pa_foresporsel", "ok", None)]
    assert (p.tasks[0].status, ms.unanswered(p), ms.awaiting_answer(p)) == ("completed", (), ())
    assert [r.status for r in p.receipts] == ["ok", "error", "ok"]


def test_fhir_sees_the_reply_task_and_touched_names_exactly_what_changed():
    p = patient()
    history = receive(p)
    history += send(then(p, history), dialog_type="svar", in_reply_to="DM-1")
    q = pt.Patient.unknown(P)
    for e in (*pt.register_patient(pt.Patient.unknown(P), pt.RegisterPatient(
            national_id="15858512066", name=ev.Name(given="Ingrid", family="Nordmann"),
            sex="female", address=pt.AddressIn(municipality="0301")), NOW, production=False),
            *history):
        before = {(k, i): r for k, i, r in fhir.resources_of(q)}
        q = pt.evolve(q, e)
        after = {(k, i): r for k, i, r in fhir.resources_of(q)}
        changed = {key for key, r in after.items() if before.get(key) != r}
        assert {(k, str(i)) for k, i in fhir.touched(q, e)} == changed, e.event_type
    [t] = q.tasks
    task = fhir.resource(q, "Task", t.task_id)
    assert task["status"] == "completed" and "requester" not in task and "output" not in task
    assert task["code"]["coding"][0]["code"] == "message_reply"
