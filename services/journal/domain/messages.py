"""Messaging (meldingsutveksling): PLO messages, dialogmelding, epikrise and henvisning, decided
against ``patients.Patient`` (DOMAIN.md §7, §11 requirements 27-29). Pure: the HTTP layer and the
routing config (which HER-id is which of our parties, which unit answers) live elsewhere.

Glossary: application receipt = applikasjonskvittering (Apprec); communication party =
kommunikasjonspart; working day = virkedag; question / answer = forespørsel / svar.

Inbound (``receive_message``). Every message gets exactly one application receipt (req. 28):
- a message id already in the record (a stored message, or one we already answered with a
  receipt, ok or error) returns no events: the API answers with the stored receipt
  (``receipt_for``). Ids are the sender's business document ids, so a corrected message comes
  with a new id; a repeat with the same id is ignored whatever its content;
- an invalid message (a dialogmelding with attachments, a send time in the future, no text, a
  party that is not a HER-id, ...) gets ``ApplicationReceiptSent(status="error")`` with every
  reason as a Norwegian sentence for the sender's clinicians, and nothing else: it is not stored;
- a valid one is stored as a journal document (``MessageReceived``), visible to the patient like
  any dialogue message, with an ok receipt; a question (PLO forespørsel, or a dialogmelding of type
  forespørsel) also makes a ``message_reply`` task for ``reply_unit``, due at the end of the
  ``ANSWER_WORKING_DAYS``-th working day after it arrived (req. 29).
The patient must be registered (NotFound): a message for no patient of ours is the HTTP layer's to
answer with an error receipt outside any patient's record. After death inbound messages are still
stored, receipted and, when asked, answered: a death notice arrives after death, and a question
about a patient who has died deserves that answer. So the reply task is made after death too.

Outbound (``send_message``): Invalid for a dialogmelding with attachments (the national rule), no
text, a dialogmelding without its type or another kind with one, an answer without
``in_reply_to``, or a party that is not a HER-id; NotFound when ``in_reply_to`` is no message of
this patient's. Sending is allowed after death (the death notice, answers to questions).

Answers: a message that names another in ``in_reply_to`` answers it, whatever its kind, unless it
is itself a question (a counter-question leaves the first one open). The first answer is the
message's ``answered_by``; when we answer a question whose reply task is still open, the task is
completed by that message (``TaskCompleted.message_id``, no note); a follow-up answer completes
nothing twice. Outbound, ``in_reply_to`` must be a message we received (to follow up our own
message, use ``refers_to``); inbound it may name anything (a question from before this record).

Links: the reply task names its question (``TaskCreated.message_id``, kept on ``process.Task``);
the question learns its task when that event is folded (``Message.reply_task_id``), so each fact
is written once. ``thread`` follows ``refers_to`` and ``in_reply_to`` both ways, so every message
about one referral or epikrise is one thread, whether or not that document is itself a message.

Receipts for our messages (``receive_receipt``): NotFound for an id we never sent; the same receipt
again returns no events; a different second receipt is a Conflict (the first stands).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from uuid import uuid4

from pydantic import Field

from libs.events.registry import EventPayload
from libs.kernel.errors import Conflict, Invalid, NotFound
from libs.kernel.identifiers import InvalidIdentifier, validate_orgnr
from libs.kernel.time import Instant
from services.journal import contract as ev
from services.journal.contract import DialogType, MessageKind, Party, ReceiptStatus, ReceiverRole
from services.journal.domain.base import (
    Clinician, Command, optional_text, orgnr, require_registered, signature,
)
from services.journal.domain.messages_state import (
    ROLE_NO, Message, answers, is_answer_kind, is_question, message_of, receipt_for,
)
from services.journal.domain.working_days import working_days_after

if TYPE_CHECKING:
    from services.journal.domain.patients import Patient

ANSWER_WORKING_DAYS = 3
"""The national rule says answer a dialogue message within 3-5 working days; we take the stricter
3, so a reply task falls due at the end of the third working day after the message arrived."""
CLOCK_SKEW = timedelta(minutes=5)
"""How far a sender's clock may run ahead of ours before its send time counts as in the future."""

# Text shown to clinicians (Norwegian), kept in one place.
KIND_NO: dict[str, str] = {
    "helseopplysninger": "Helseopplysninger", "helseopplysninger_til_lege":
    "Helseopplysninger til lege", "melding_om_innlagt_pasient": "Melding om innlagt pasient",
    "innleggelsesrapport": "Innleggelsesrapport", "utskrivningsrapport": "Utskrivningsrapport",
    "foresporsel": "Forespørsel", "svar_pa_foresporsel": "Svar på forespørsel",
    "orientering_om_tjenestetilbud": "Orientering om tjenestetilbud",
    "medisinske_opplysninger": "Medisinske opplysninger", "dodsmelding": "Dødsmelding",
    "avviksmelding": "Avviksmelding", "dialogmelding": "Dialogmelding", "epikrise": "Epikrise",
    "henvisning": "Henvisning"}
DIALOG_NO: dict[str, str] = {"foresporsel": "forespørsel", "svar": "svar", "notat": "notat"}
RECEIPT_NO: dict[str, str] = {  # reasons in an error receipt, read by the sender's clinicians
    "sender_her": "Avsenders HER-id er ikke gyldig: en HER-id er 1 til 9 siffer.",
    "sender_orgnr": "Avsenders organisasjonsnummer er ikke gyldig.",
    "receiver_her": "Mottakers HER-id er ikke gyldig: en HER-id er 1 til 9 siffer.",
    "no_dialog_type": "En dialogmelding må ha type: forespørsel, svar eller notat.",
    "dialog_type": "Bare en dialogmelding har dialogmeldingstype.",
    "attachments": "En dialogmelding kan ikke ha vedlegg (nasjonal regel for helsefaglig "
                   "dialog).",
    "future": "Meldingen er sendt fram i tid: sendetidspunktet er senere enn nå.",
    "no_text": "Meldingen har ingen tekst.",
}

# --- commands --------------------------------------------------------------------------------

class PartyIn(Command):
    """A party as a message or a client names it; checked and turned into ``events.Party``."""

    her_id: str = Field(max_length=20, description="HER-id, 1-9 digits")
    name: str | None = Field(default=None, max_length=200)
    orgnr: str | None = Field(default=None, max_length=20)


class ReceiveMessage(Command):
    """An inbound business document, as the transport delivered it."""

    message_id: str = Field(min_length=1, max_length=100, pattern=r"^\S+$",
                            description="the business document's id (MsgId)")
    kind: MessageKind
    dialog_type: DialogType | None = None
    sender: PartyIn
    receiver_her: str = Field(max_length=20, description="the HER-id it was addressed to")
    receiver_role: ReceiverRole
    refers_to: str | None = Field(default=None, max_length=100,
                                  description="the referral, epikrise or message it concerns")
    in_reply_to: str | None = Field(default=None, max_length=100)
    subject: str | None = Field(default=None, max_length=200)
    text: str = Field(max_length=50000)
    sent_at: Instant
    attachments: int = Field(default=0, ge=0)


class SendMessage(Command):
    kind: MessageKind
    dialog_type: DialogType | None = None
    to: PartyIn
    refers_to: str | None = Field(default=None, max_length=100)
    in_reply_to: str | None = Field(default=None, max_length=100,
                                    description="the message we received that this answers")
    subject: str | None = Field(default=None, max_length=200)
    text: str = Field(max_length=50000)
    attachments: int = Field(default=0, ge=0)


class ReceiveReceipt(Command):
    """The receiver's application receipt for a message we sent."""

    message_id: str = Field(min_length=1, max_length=100)
    status: ReceiptStatus
    errors: list[str] = Field(default=[], max_length=20)


# --- checks ----------------------------------------------------------------------------------

def _is_her(value: str) -> bool:
    return value.isdigit() and 1 <= len(value) <= 9


def _party(c: PartyIn, field: str) -> Party:
    if not _is_her(c.her_id.strip()):
        raise Invalid(f"{field}.her_id: a HER-id is 1 to 9 digits.")
    orgnr = None
    if optional_text(c.orgnr) is not None:
        try:
            orgnr = validate_orgnr(c.orgnr.strip())
        except InvalidIdentifier as exc:
            raise Invalid(f"{field}.orgnr: {exc}.") from None
    return Party(her_id=c.her_id.strip(), name=optional_text(c.name), orgnr=orgnr)


def _inbound_errors(c: ReceiveMessage, now: datetime) -> list[str]:
    """Every reason to refuse an inbound message, in Norwegian; empty when it is valid."""
    wrong: list[str] = []
    if not _is_her(c.sender.her_id.strip()):
        wrong.append("sender_her")
    if optional_text(c.sender.orgnr) is not None:
        try:
            validate_orgnr(c.sender.orgnr.strip())
        except InvalidIdentifier:
            wrong.append("sender_orgnr")
    if not _is_her(c.receiver_her.strip()):
        wrong.append("receiver_her")
    if c.kind == "dialogmelding" and c.dialog_type is None:
        wrong.append("no_dialog_type")
    if c.kind != "dialogmelding" and c.dialog_type is not None:
        wrong.append("dialog_type")
    if c.kind == "dialogmelding" and c.attachments:
        wrong.append("attachments")
    if c.sent_at > now + CLOCK_SKEW:
        wrong.append("future")
    if not c.text.strip():
        wrong.append("no_text")
    return [RECEIPT_NO[w] for w in wrong]


def _reply_title(c: ReceiveMessage, sender: Party) -> str:
    """``Svar på dialogmelding: <subject>``, or ``Svar på forespørsel fra <sender>``."""
    what = "dialogmelding" if c.kind == "dialogmelding" else "forespørsel"
    subject = optional_text(c.subject)
    title = (f"Svar på {what}: {subject}" if subject else
             f"Svar på {what} fra {sender.name or f'HER-id {sender.her_id}'}")
    return title if len(title) <= 200 else title[:199] + "…"


# --- decisions -------------------------------------------------------------------------------

def receive_message(p: Patient, c: ReceiveMessage, now: datetime, *, reply_unit: str,
                    answer_working_days: int = ANSWER_WORKING_DAYS) -> list[EventPayload]:
    """``[]`` for a message id already in the record; ``[ApplicationReceiptSent(error)]`` for an
    invalid message; else ``[MessageReceived, ApplicationReceiptSent(ok)]``, plus a
    ``TaskCreated`` (kind ``message_reply``, for ``reply_unit``) when the message is a question."""
    require_registered(p)  # also after death: see the module doc
    unit = orgnr("reply_unit", reply_unit)
    if message_of(p, c.message_id) is not None or receipt_for(p, c.message_id) is not None:
        return []
    her = c.sender.her_id.strip()
    to_her = her if _is_her(her) else None
    if errors := _inbound_errors(c, now):
        return [ev.ApplicationReceiptSent(message_id=c.message_id, status="error",
                                          errors=tuple(errors), to_her=to_her, sent_at=now)]
    sender = Party(her_id=her, name=optional_text(c.sender.name),
                   orgnr=optional_text(c.sender.orgnr))
    out: list[EventPayload] = [
        ev.MessageReceived(
            message_id=c.message_id, kind=c.kind, dialog_type=c.dialog_type, sender=sender,
            receiver_her=c.receiver_her.strip(), receiver_role=c.receiver_role,
            refers_to=optional_text(c.refers_to), in_reply_to=optional_text(c.in_reply_to),
            subject=optional_text(c.subject), text=c.text, attachments=c.attachments,
            sent_at=c.sent_at, received_at=now, unit=unit),
        ev.ApplicationReceiptSent(message_id=c.message_id, status="ok", to_her=to_her,
                                  sent_at=now)]
    if is_question(c.kind, c.dialog_type):
        out.append(ev.TaskCreated(
            task_id=uuid4(), kind="message_reply", title=_reply_title(c, sender),
            description=(f"Til {ROLE_NO[c.receiver_role]}. Svarfrist {answer_working_days} "
                         "arbeidsdager."),
            unit=unit, due_at=working_days_after(now, answer_working_days),
            message_id=c.message_id, created_by=None, created_at=now))
    return out


def send_message(p: Patient, c: SendMessage, by: Clinician, now: datetime, *,
                 sender_her: str) -> list[EventPayload]:
    """``[MessageSent]``, plus ``TaskCompleted`` when it answers a question whose reply task is
    still open. ``sender_her`` is the HER-id of our party that sends (routing config)."""
    require_registered(p)  # also after death: the death notice, answers
    who = signature(by)
    if not _is_her(sender_her):
        raise Invalid("sender_her: a HER-id is 1 to 9 digits.")
    to = _party(c.to, "to")
    if not c.text.strip():
        raise Invalid("text: a message needs text.")
    if c.kind == "dialogmelding":
        if c.dialog_type is None:
            raise Invalid("dialog_type: a dialogmelding is a question, an answer or a note "
                          "(foresporsel, svar or notat).")
        if c.attachments:
            raise Invalid("attachments: a dialogmelding has no attachments (the national rule "
                          "for clinical dialogue); send them with another message kind.")
    elif c.dialog_type is not None:
        raise Invalid("dialog_type: only a dialogmelding has a dialog type.")
    reply_to = optional_text(c.in_reply_to)
    if is_answer_kind(c.kind, c.dialog_type) and reply_to is None:
        raise Invalid("in_reply_to: an answer names the message it answers.")
    question: Message | None = None
    if reply_to is not None:
        question = message_of(p, reply_to)
        if question is None:
            raise NotFound("No such message for this patient to reply to.")
        if question.direction != "in":
            raise Invalid("in_reply_to: a reply answers a message we received; to follow up a "
                          "message we sent, use refers_to.")
    message_id = str(uuid4())
    out: list[EventPayload] = [ev.MessageSent(
        message_id=message_id, kind=c.kind, dialog_type=c.dialog_type, sender_her=sender_her,
        to=to, refers_to=optional_text(c.refers_to), in_reply_to=reply_to,
        subject=optional_text(c.subject),
        text=c.text, attachments=c.attachments, by=who["by"], unit=who["unit"], sent_at=now)]
    if question is not None and answers(c.kind, c.dialog_type, reply_to):
        task = next((t for t in p.tasks if t.task_id == question.reply_task_id
                     and t.status == "requested"), None)
        if task is not None:
            out.append(ev.TaskCompleted(task_id=task.task_id, message_id=message_id,
                                        completed_by=who["by"], completed_at=now))
    return out


def receive_receipt(p: Patient, c: ReceiveReceipt, now: datetime) -> list[EventPayload]:
    """``[ApplicationReceiptReceived]`` for a message we sent; ``[]`` for the same receipt
    again."""
    require_registered(p)
    m = message_of(p, c.message_id)
    if m is None or m.direction != "out":
        raise NotFound("No such sent message for this patient.")
    errors = tuple(e.strip()[:1000] for e in c.errors if e.strip())
    if c.status == "error" and not errors:
        raise Invalid("errors: an error receipt says what was wrong.")
    if m.receipt != "pending":
        if (m.receipt, m.receipt_errors) == (c.status, errors):
            return []
        raise Conflict(f"The message already has a receipt ({m.receipt}); a second, different "
                       "one is not accepted.")
    return [ev.ApplicationReceiptReceived(message_id=m.message_id, status=c.status,
                                          errors=errors, received_at=now)]
