"""Messaging, pure: PLO messages, dialogmelding, epikrise and henvisning received and sent, the
application receipt for every inbound message and idempotency by message id (requirement 28),
the reply task with its working-day deadline (requirement 29), answers completing it, receipts
for our messages, threads, the fold, and what the FHIR view makes of it."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from libs.access.policy import OSLO
from services.journal.domain import clinical as c
from services.journal import contract as ev
from services.journal.domain import messages as msg
from services.journal.domain import messages_state as ms
from services.journal.domain import patients as pt
from services.journal.domain import process as pr
from services.journal.domain import process_state as ps
from tests.journal.support import NOW, TODAY, registered, then
from tests.support.refusals import refused

P = uuid.UUID("0190f0a0-0000-7000-8000-0000000000a1")
UNIT, BAD_ORG = "974600978", "974600952"
OUR_HER, OUR_SENDER_HER = "80001", "80002"
NURSE = c.Clinician(hpr="9144889", unit=UNIT)
DOCTOR = c.Clinician(hpr="7654321", unit=UNIT, physician=True)
GP = msg.PartyIn(her_id="56704", name="Legekontoret Sentrum", orgnr="123456785")
HOSPITAL = msg.PartyIn(her_id="8094", name="Sykehuset")
FRIDAY_15 = datetime(2026, 11, 27, 14, tzinfo=UTC)  # 15:00 in Oslo


def says(status: int, fn, *args, **kw) -> str:
    """Refused with ``status`` and a message a person can read: words, not a repr or a trace."""
    message = refused(status, fn, *args, **kw)
    assert re.fullmatch(r"[A-Za-z][^\n{}<>]*", message) and len(message.split()) >= 3, message
    assert "UUID(" not in message and "Traceback" not in message, message
    return message


def patient(*more: ev.EventPayload) -> pt.Patient:
    return registered(P, *more, given="Ingrid")


def died(p: pt.Patient) -> pt.Patient:
    return then(p, pt.record_death(p, pt.RecordDeath(deceased_on=TODAY), NOW))


def inbound(**kw) -> msg.ReceiveMessage:
    return msg.ReceiveMessage(**({
        "message_id": "DM-1", "kind": "dialogmelding", "dialog_type": "foresporsel",
        "sender": GP, "receiver_her": OUR_HER, "receiver_role": "sykepleietjeneste",
        "subject": "Blodtrykk", "text": "Kan dere måle blodtrykket daglig i en uke?",
        "sent_at": NOW - timedelta(minutes=10)} | kw))


def outbound(**kw) -> msg.SendMessage:
    return msg.SendMessage(**({"kind": "dialogmelding", "dialog_type": "notat", "to": GP,
                               "text": "Pasienten er hjemme igjen."} | kw))


def receive(p: pt.Patient, now: datetime = NOW, **kw) -> list[ev.EventPayload]:
    """``inbound(**kw)`` received at ``now``, sent ten minutes earlier unless ``sent_at``."""
    return msg.receive_message(p, inbound(**({"sent_at": now - timedelta(minutes=10)} | kw)),
                               now, reply_unit=UNIT)


def send(p: pt.Patient, by: c.Clinician = NURSE, now: datetime = NOW,
         **kw) -> list[ev.EventPayload]:
    return msg.send_message(p, outbound(**kw), by, now, sender_her=OUR_SENDER_HER)


def oslo(*args) -> datetime:
    return datetime(*args, tzinfo=OSLO)


# --- inbound ---------------------------------------------------------------------------------

def test_a_message_is_stored_as_a_journal_document_with_an_ok_receipt():
    p = patient()
    received, receipt = receive(p, message_id="EPI-9", kind="epikrise", dialog_type=None,
                                sender=HOSPITAL, receiver_role="legetjeneste",
                                subject="  Epikrise  ", text="Innlagt for pneumoni.",
                                attachments=2, refers_to="HEN-1")
    assert isinstance(received, ev.MessageReceived)
    assert (received.message_id, received.kind, received.sender, received.receiver_her,
            received.receiver_role, received.refers_to, received.subject, received.attachments,
            received.received_at) == (
        "EPI-9", "epikrise", ev.Party(her_id="8094", name="Sykehuset"), OUR_HER,
        "legetjeneste", "HEN-1", "Epikrise", 2, NOW)
    assert (receipt.message_id, receipt.status, receipt.errors, receipt.to_her,
            receipt.sent_at) == ("EPI-9", "ok", (), "8094", NOW)
    p = then(p, [received, receipt])
    [m] = p.messages
    assert (m.direction, m.kind, m.text, m.receiver, m.receipt, m.receipt_at, m.at,
            m.answered_by, m.reply_task_id, m.is_question) == (
        "in", "epikrise", "Innlagt for pneumoni.",
        ev.Party(her_id=OUR_HER, name="Legetjeneste PO"), "ok", NOW, NOW, None, None, False)
    assert ms.receipt_for(p, "EPI-9") == ms.Receipt(message_id="EPI-9", status="ok",
                                                      to_her="8094", sent_at=NOW)
    assert p.tasks == () and ms.unanswered(p) == ()


@pytest.mark.parametrize("kind", ["helseopplysninger", "melding_om_innlagt_pasient",
                                  "innleggelsesrapport", "utskrivningsrapport",
                                  "svar_pa_foresporsel", "orientering_om_tjenestetilbud",
                                  "medisinske_opplysninger", "dodsmelding", "avviksmelding",
                                  "helseopplysninger_til_lege", "henvisning", "epikrise"])
def test_every_kind_but_a_question_is_received_without_a_task(kind):
    events = receive(patient(), kind=kind, dialog_type=None, attachments=1)
    assert [type(e).__name__ for e in events] == ["MessageReceived", "ApplicationReceiptSent"]


def test_a_question_makes_a_reply_task_due_in_three_working_days():
    p = patient()
    received, receipt, task = receive(p, now=FRIDAY_15)
    assert isinstance(task, ev.TaskCreated)
    assert (task.kind, task.title, task.unit, task.due_at, task.message_id, task.created_by,
            task.created_at) == (
        "message_reply", "Svar på dialogmelding: Blodtrykk", UNIT,
        oslo(2026, 12, 2, 23, 59, 59), "DM-1", None, FRIDAY_15)  # Friday 15:00 -> Wednesday
    assert task.description == "Til Sykepleietjeneste PO. Svarfrist 3 arbeidsdager."
    p = then(p, [received, receipt, task])
    [m], [t] = p.messages, p.tasks
    assert (m.reply_task_id, m.is_question, t.message_id, t.status) == (
        task.task_id, True, "DM-1", "requested")
    assert ps.task_summary(t) == ("Svar på melding: Svar på dialogmelding: Blodtrykk – frist "
                                  "02.12.2026 kl. 23:59 (åpen)")
    assert ms.unanswered(p) == (m,)


def test_a_plo_question_over_easter_and_the_answer_days_are_configurable():
    wednesday = oslo(2027, 3, 24, 10)
    *_, task = msg.receive_message(patient(), inbound(
        kind="foresporsel", dialog_type=None, subject=None, sender=msg.PartyIn(her_id="56704")),
        wednesday, reply_unit=UNIT)
    assert (task.title, task.due_at) == ("Svar på forespørsel fra HER-id 56704",
                                         oslo(2027, 4, 1, 23, 59, 59))
    *_, later = msg.receive_message(patient(), inbound(kind="foresporsel", dialog_type=None),
                                    wednesday, reply_unit=UNIT, answer_working_days=5)
    assert later.due_at == oslo(2027, 4, 5, 23, 59, 59)
    *_, named = receive(patient(), subject=" ", kind="foresporsel", dialog_type=None)
    assert named.title == "Svar på forespørsel fra Legekontoret Sentrum"
    *_, long = receive(patient(), subject="x" * 200)
    assert len(long.title) == 200 and long.title.endswith("…")


def test_a_message_id_already_in_the_record_is_ignored():
    p = patient()
    first = receive(p)
    p = then(p, first)
    assert receive(p) == []
    assert receive(p, text="Annen tekst med samme id", kind="epikrise", dialog_type=None) == []
    assert len(p.messages) == len(p.tasks) == len(p.receipts) == 1
    assert ms.receipt_for(p, "DM-1").status == "ok"


def test_an_invalid_message_gets_only_an_error_receipt_once():
    p = patient()
    [receipt] = receive(p, kind="dialogmelding", dialog_type="notat", attachments=1)
    assert isinstance(receipt, ev.ApplicationReceiptSent)
    assert (receipt.message_id, receipt.status, receipt.to_her, receipt.errors) == (
        "DM-1", "error", "56704",
        ("En dialogmelding kan ikke ha vedlegg (nasjonal regel for helsefaglig dialog).",))
    p = then(p, [receipt])
    assert p.messages == () and p.tasks == ()  # not stored as a document
    assert ms.receipt_for(p, "DM-1").status == "error"
    assert receive(p, kind="dialogmelding", dialog_type="notat", attachments=1) == []
    assert receive(p) == []  # the id is taken: a corrected message comes with a new id


@pytest.mark.parametrize(("kw", "reason"), [
    ({"attachments": 3}, "kan ikke ha vedlegg"),
    ({"sent_at": NOW + timedelta(hours=1)}, "sendt fram i tid"),
    ({"text": " \n "}, "ingen tekst"),
    ({"dialog_type": None}, "må ha type"),
    ({"kind": "epikrise"}, "Bare en dialogmelding har dialogmeldingstype"),
    ({"sender": msg.PartyIn(her_id="56704", orgnr=BAD_ORG)}, "organisasjonsnummer"),
    ({"receiver_her": "80 01"}, "Mottakers HER-id"),
])
def test_each_reason_to_refuse_an_inbound_message(kw, reason):
    [receipt] = receive(patient(), **kw)
    assert receipt.status == "error" and len(receipt.errors) == 1
    assert reason in receipt.errors[0] and receipt.errors[0].endswith(".")


def test_an_error_receipt_lists_every_reason_and_may_have_no_her_id_to_go_to():
    [receipt] = receive(patient(), sender=msg.PartyIn(her_id="HER56704"), attachments=1,
                        text="", sent_at=NOW + timedelta(days=1))
    assert receipt.to_her is None
    assert [e.split(" ")[0] for e in receipt.errors] == ["Avsenders", "En", "Meldingen",
                                                         "Meldingen"]


def test_a_sender_clock_a_little_ahead_is_tolerated():
    assert len(receive(patient(), sent_at=NOW + timedelta(minutes=4))) == 3
    assert receive(patient(), sent_at=NOW + timedelta(minutes=6))[0].status == "error"


def test_receiving_needs_a_registered_patient_and_a_reply_unit_and_works_after_death():
    assert "No such patient" in says(404, receive, pt.Patient.unknown(P))
    assert "reply_unit" in says(422, msg.receive_message, patient(), inbound(), NOW,
                                reply_unit=BAD_ORG)
    dead = died(patient())
    events = receive(dead, kind="foresporsel", dialog_type=None)  # a question still gets an answer
    assert [type(e).__name__ for e in events] == [
        "MessageReceived", "ApplicationReceiptSent", "TaskCreated"]
    assert len(then(dead, events).messages) == 1


# --- outbound --------------------------------------------------------------------------------

def test_a_message_is_sent_by_a_clinician_from_our_party():
    p = patient()
    [sent] = send(p, kind="helseopplysninger_til_lege", dialog_type=None, refers_to=" EPI-9 ",
                  subject=" Etter utskrivning ", attachments=2)
    assert isinstance(sent, ev.MessageSent)
    uuid.UUID(sent.message_id)  # a new id
    assert (sent.kind, sent.sender_her, sent.to, sent.refers_to, sent.in_reply_to, sent.subject,
            sent.attachments, sent.by, sent.unit, sent.sent_at) == (
        "helseopplysninger_til_lege", OUR_SENDER_HER,
        ev.Party(her_id="56704", name="Legekontoret Sentrum", orgnr="123456785"), "EPI-9",
        None, "Etter utskrivning", 2, NURSE.hpr, UNIT, NOW)
    p = then(p, [sent])
    [m] = p.messages
    assert (m.direction, m.sender, m.receiver.her_id, m.by, m.unit, m.receipt, m.at) == (
        "out", ev.Party(her_id=OUR_SENDER_HER), "56704", NURSE.hpr, UNIT, "pending", NOW)
    assert ms.message_of(p, sent.message_id) == m and ms.message_of(p, "nope") is None


def test_sending_is_refused_with_a_reason():
    p = then(patient(), receive(patient()))
    assert "no attachments" in says(422, send, p, attachments=1)
    assert "text" in says(422, send, p, text="  ")
    assert "dialog_type" in says(422, send, p, dialog_type=None)
    assert "only a dialogmelding" in says(422, send, p, kind="henvisning")
    assert "in_reply_to: an answer names" in says(422, send, p, dialog_type="svar")
    assert "in_reply_to: an answer names" in says(422, send, p, kind="svar_pa_foresporsel",
                                                  dialog_type=None)
    assert "to.her_id" in says(422, send, p, to=msg.PartyIn(her_id="1234567890"))
    assert "to.orgnr" in says(422, send, p, to=msg.PartyIn(her_id="1", orgnr=BAD_ORG))
    assert "HPR" in says(422, send, p, c.Clinician(hpr="x", unit=UNIT))
    assert "unit" in says(422, send, p, c.Clinician(hpr="1", unit=BAD_ORG))
    assert "sender_her" in says(422, msg.send_message, p, outbound(), NURSE, NOW,
                                sender_her="abc")
    assert "No such message" in says(404, send, p, dialog_type="svar", in_reply_to="DM-404")
    [ours] = send(p)
    p = then(p, [ours])
    assert "use refers_to" in says(422, send, p, in_reply_to=ours.message_id)
    assert "No such patient" in says(404, send, pt.Patient.unknown(P))


def test_sending_is_allowed_after_death():
    [sent] = send(died(patient()), kind="dodsmelding", dialog_type=None,
                  text="Pasienten døde i dag.")
    assert sent.kind == "dodsmelding"


# --- answers ---------------------------------------------------------------------------------

def test_our_answer_completes_the_reply_task_once():
    p = then(patient(), receive(patient()))
    [question] = p.messages
    later = NOW + timedelta(days=1)
    sent, done = send(p, DOCTOR, later, dialog_type="svar", in_reply_to="DM-1",
                      subject="Sv: Blodtrykk", text="Ja, vi måler daglig.")
    assert isinstance(done, ev.TaskCompleted)
    assert (done.task_id, done.message_id, done.note_id, done.completed_by,
            done.completed_at) == (question.reply_task_id, sent.message_id, None, DOCTOR.hpr,
                                   later)
    p = then(p, [sent, done])
    [t] = p.tasks
    assert (t.status, t.reply_message_id, t.note_id, t.completed_by) == (
        "completed", sent.message_id, None, DOCTOR.hpr)
    assert ms.message_of(p, "DM-1").answered_by == sent.message_id
    assert ms.unanswered(p) == ()
    [follow_up] = send(p, dialog_type="svar", in_reply_to="DM-1", text="Målingene er gode.")
    p = then(p, [follow_up])
    assert ms.message_of(p, "DM-1").answered_by == sent.message_id  # the first answer stays
    assert "already completed" in says(409, pr.complete_task, p, pr.CompleteTask(
        task_id=t.task_id, text="x"), NURSE, NOW)


def test_a_reply_task_closed_another_way_is_not_completed_again():
    p = then(patient(), receive(patient(), kind="foresporsel", dialog_type=None))
    [t] = p.tasks
    p = then(p, pr.cancel_task(p, pr.CancelTask(task_id=t.task_id, reason="svart på telefon"),
                               NURSE, NOW))
    assert ms.unanswered(p) != ()  # the sender still has no answer
    [sent] = send(p, kind="svar_pa_foresporsel", dialog_type=None, in_reply_to="DM-1")
    assert ms.unanswered(then(p, [sent])) == ()


def test_a_note_or_a_counter_question_in_reply_is_linked_but_only_an_answer_closes_the_task():
    p = then(patient(), receive(patient()))
    [counter] = send(p, dialog_type="foresporsel", in_reply_to="DM-1", text="Hvilken arm?")
    p = then(p, [counter])
    assert ms.message_of(p, "DM-1").answered_by is None and p.tasks[0].status == "requested"
    assert ms.awaiting_answer(p) == (ms.message_of(p, counter.message_id),)
    sent, done = send(p, dialog_type="notat", in_reply_to="DM-1", text="Vi måler daglig.")
    assert done.task_id == p.tasks[0].task_id


def test_an_inbound_answer_marks_our_question_answered():
    p = patient()
    [question] = send(p, dialog_type="foresporsel", text="Hvilken dose?")
    p = then(p, [question])
    assert ms.awaiting_answer(p) == p.messages
    events = receive(p, message_id="DM-2", dialog_type="svar", in_reply_to=question.message_id,
                     text="5 mg.")
    assert [type(e).__name__ for e in events] == ["MessageReceived", "ApplicationReceiptSent"]
    p = then(p, events)
    assert ms.message_of(p, question.message_id).answered_by == "DM-2"
    assert ms.awaiting_answer(p) == ()
    again = receive(p, message_id="DM-3", kind="svar_pa_foresporsel", dialog_type=None,
                    in_reply_to=question.message_id)
    assert ms.message_of(then(p, again), question.message_id).answered_by == "DM-2"
    lone = receive(p, message_id="DM-4", dialog_type="svar")  # answers nothing we know: stored
    assert lone[1].status == "ok"


# --- receipts for our messages ---------------------------------------------------------------

def test_a_receipt_for_our_message_sets_its_delivery_status_once():
    p = patient()
    [sent] = send(p)
    p = then(p, [sent])

    def receipt(p, status="ok", errors=(), message_id=sent.message_id):
        return msg.receive_receipt(p, msg.ReceiveReceipt(message_id=message_id, status=status,
                                                         errors=list(errors)), NOW)

    assert "No such sent message" in says(404, receipt, p, "ok", (), "nope")
    assert "errors" in says(422, receipt, p, "error", [" "])
    [ok] = receipt(p)
    assert (ok.message_id, ok.status, ok.errors, ok.received_at) == (
        sent.message_id, "ok", (), NOW)
    delivered = then(p, [ok])
    assert (delivered.messages[0].receipt, delivered.messages[0].receipt_at) == ("ok", NOW)
    assert receipt(delivered) == []
    assert "already has a receipt (ok)" in says(409, receipt, delivered, "error", ["Ukjent"])
    [bad] = receipt(p, "error", [" Ukjent mottaker ", ""])
    failed = then(p, [bad])
    assert (failed.messages[0].receipt, failed.messages[0].receipt_errors) == (
        "error", ("Ukjent mottaker",))
    assert receipt(failed, "error", ["Ukjent mottaker"]) == []
    inbound_p = then(p, receive(p))
    assert "No such sent message" in says(404, receipt, inbound_p, "ok", (), "DM-1")
    assert "No such patient" in says(404, receipt, pt.Patient.unknown(P))


# --- threads ---------------------------------------------------------------------------------

def test_a_thread_holds_every_message_about_one_referral_or_epikrise_in_time_order():
    p = patient()
    p = then(p, receive(p, now=NOW - timedelta(days=3), message_id="EPI-1", kind="epikrise",
                        dialog_type=None, sender=HOSPITAL, refers_to="HEN-7"))
    [ours] = send(p, now=NOW - timedelta(days=2), dialog_type="foresporsel", refers_to="EPI-1",
                  text="Trenger pasienten sårstell?")
    p = then(p, [ours])
    p = then(p, receive(p, message_id="DM-2", dialog_type="svar", in_reply_to=ours.message_id,
                        text="Ja, daglig."))
    p = then(p, receive(p, now=NOW - timedelta(days=1), message_id="DM-9",
                        dialog_type="notat", refers_to="HEN-7", text="Henvisningen er sendt."))
    p = then(p, receive(p, message_id="OTHER", kind="helseopplysninger", dialog_type=None))
    expected = ["EPI-1", ours.message_id, "DM-9", "DM-2"]
    for start in (*expected, "HEN-7"):  # from any member, or from the referral itself
        assert [m.message_id for m in ms.thread(p, start)] == expected
    assert [m.message_id for m in ms.thread(p, "OTHER")] == ["OTHER"]
    assert ms.thread(p, "unknown") == ()
