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
The patient must be registered (404): a message for no patient of ours is the API layer's to
answer with an error receipt outside any patient's record. After death inbound messages are still
stored, receipted and, when asked, answered: a death notice arrives after death, and a question
about a patient who has died deserves that answer. So the reply task is made after death too.

Outbound (``send_message``): 422 for a dialogmelding with attachments (the national rule), no
text, a dialogmelding without its type or another kind with one, an answer without
``in_reply_to``, or a party that is not a HER-id; 404 when ``in_reply_to`` is no message of this
patient's. Sending is allowed after death (the death notice, answers to questions).

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

Receipts for our messages (``receive_receipt``): 404 for an id we never sent; the same receipt
again returns no events; a different second receipt is 409 (the first stands).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import TYPE_CHECKING, Literal
from uuid import UUID, uuid4

from pydantic import AwareDatetime, Field

from libs.access.identifiers import InvalidIdentifier, validate_orgnr
from libs.access.policy import OSLO, local_day
from libs.events.evolve import replace_where
from libs.events.registry import EventPayload
from services.journal.domain import (
    Command, Frozen, conflict, invalid, not_found, require_registered,
)
from services.journal.domain import clinical
from services.journal.domain import events as ev
from services.journal.domain.clinical import Clinician
from services.journal.domain.episodes import _orgnr
from services.journal.domain.events import (
    DialogType, MessageKind, Party, ReceiptStatus, ReceiverRole,
)

if TYPE_CHECKING:
    from services.journal.domain.patients import Patient

ANSWER_WORKING_DAYS = 3
"""The national rule says answer a dialogue message within 3-5 working days; we take the stricter
3, so a reply task falls due at the end of the third working day after the message arrived."""
CLOCK_SKEW = timedelta(minutes=5)
"""How far a sender's clock may run ahead of ours before its send time counts as in the future."""
END_OF_DAY = time(23, 59, 59)

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
ROLE_NO: dict[str, str] = {"sykepleietjeneste": "Sykepleietjeneste PO",
                           "legetjeneste": "Legetjeneste PO",
                           "saksbehandler": "Saksbehandler pleie, omsorg, rehab"}
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

Direction = Literal["in", "out"]
Delivery = Literal["pending", "ok", "error"]


class Receipt(Frozen):
    """An application receipt we sent for an inbound message (also for one not stored)."""

    message_id: str
    status: ReceiptStatus
    errors: tuple[str, ...] = ()
    to_her: str | None = None
    sent_at: datetime


class Message(Frozen):
    """A message in the record: a journal document, never changed; ``receipt`` is the receipt we
    sent (inbound) or the receiver's (outbound; ``pending`` until it comes)."""

    message_id: str
    direction: Direction
    kind: MessageKind
    dialog_type: DialogType | None = None
    sender: Party
    receiver: Party
    receiver_role: ReceiverRole | None = None  # inbound: which of our parties it was sent to
    refers_to: str | None = None
    in_reply_to: str | None = None
    subject: str | None = None
    text: str
    attachments: int = 0
    sent_at: datetime
    received_at: datetime | None = None  # inbound
    by: str | None = None  # outbound: HPR number of the writer
    unit: str | None = None  # outbound: the writer's unit
    receipt: Delivery = "pending"
    receipt_errors: tuple[str, ...] = ()
    receipt_at: datetime | None = None
    answered_by: str | None = None  # the first message that answered this one
    reply_task_id: UUID | None = None  # inbound question: its message_reply task

    @property
    def at(self) -> datetime:
        """When it entered the record: received (inbound) or sent (outbound)."""
        return self.received_at or self.sent_at

    @property
    def is_question(self) -> bool:
        return is_question(self.kind, self.dialog_type)


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
    sent_at: AwareDatetime
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


# --- working days ----------------------------------------------------------------------------

def easter_sunday(year: int) -> date:
    """Easter Sunday in the Gregorian calendar (the anonymous Gregorian algorithm)."""
    a, (b, c) = year % 19, divmod(year, 100)
    d, e = divmod(b, 4)
    g = (b - (b + 8) // 25 + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * weekday) // 451
    month, day = divmod(h + weekday - 7 * m + 114, 31)
    return date(year, month, day + 1)


@cache
def public_holidays(year: int) -> frozenset[date]:
    """Norway's public holidays (helligdager and 1 and 17 May): New Year's Day, Maundy Thursday,
    Good Friday, Easter Sunday and Monday, 1 May, 17 May, Ascension Day, Whit Sunday and Monday,
    Christmas Day and Boxing Day. Christmas Eve and New Year's Eve are working days."""
    easter = easter_sunday(year)
    return frozenset({date(year, 1, 1), date(year, 5, 1), date(year, 5, 17), date(year, 12, 25),
                      date(year, 12, 26)} | {easter + timedelta(days=n)
                                             for n in (-3, -2, 0, 1, 39, 49, 50)})


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in public_holidays(day.year)


def working_days_after(moment: datetime, n: int) -> datetime:
    """The end (23:59:59 in Europe/Oslo) of the ``n``-th working day after the Norwegian day of
    ``moment``: counting starts the next day, whatever day ``moment`` falls on, and skips
    weekends and public holidays. A Friday 15:00 with ``n=3`` gives Wednesday 23:59:59."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("working_days_after needs an aware datetime")
    if n < 1:
        raise ValueError("n must be at least 1 working day")
    day = local_day(moment)
    while n:
        day += timedelta(days=1)
        n -= is_working_day(day)
    return datetime.combine(day, END_OF_DAY, tzinfo=OSLO)


# --- checks ----------------------------------------------------------------------------------

def is_question(kind: str, dialog_type: str | None) -> bool:
    """Whether a message asks for an answer: a PLO forespørsel or a dialogmelding forespørsel."""
    return kind == "foresporsel" or (kind == "dialogmelding" and dialog_type == "foresporsel")


def is_answer_kind(kind: str, dialog_type: str | None) -> bool:
    """A svar på forespørsel, or a dialogmelding of type svar: it must name what it answers."""
    return kind == "svar_pa_foresporsel" or (kind == "dialogmelding" and dialog_type == "svar")


def _answers(kind: str, dialog_type: str | None, in_reply_to: str | None) -> bool:
    return in_reply_to is not None and not is_question(kind, dialog_type)


def _is_her(value: str) -> bool:
    return value.isdigit() and 1 <= len(value) <= 9


def _maybe(value: str | None) -> str | None:
    return (value or "").strip() or None


def _find(p: Patient, message_id: str) -> Message | None:
    return next((m for m in p.messages if m.message_id == message_id), None)


def _party(c: PartyIn, field: str) -> Party:
    if not _is_her(c.her_id.strip()):
        raise invalid(f"{field}.her_id: a HER-id is 1 to 9 digits.")
    orgnr = None
    if _maybe(c.orgnr) is not None:
        try:
            orgnr = validate_orgnr(c.orgnr.strip())
        except InvalidIdentifier as exc:
            raise invalid(f"{field}.orgnr: {exc}.") from None
    return Party(her_id=c.her_id.strip(), name=_maybe(c.name), orgnr=orgnr)


def _inbound_errors(c: ReceiveMessage, now: datetime) -> list[str]:
    """Every reason to refuse an inbound message, in Norwegian; empty when it is valid."""
    wrong: list[str] = []
    if not _is_her(c.sender.her_id.strip()):
        wrong.append("sender_her")
    if _maybe(c.sender.orgnr) is not None:
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
    subject = _maybe(c.subject)
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
    unit = _orgnr("reply_unit", reply_unit)
    if _find(p, c.message_id) is not None or receipt_for(p, c.message_id) is not None:
        return []
    her = c.sender.her_id.strip()
    to_her = her if _is_her(her) else None
    if errors := _inbound_errors(c, now):
        return [ev.ApplicationReceiptSent(message_id=c.message_id, status="error",
                                          errors=tuple(errors), to_her=to_her, sent_at=now)]
    sender = Party(her_id=her, name=_maybe(c.sender.name),
                   orgnr=_maybe(c.sender.orgnr))
    out: list[EventPayload] = [
        ev.MessageReceived(
            message_id=c.message_id, kind=c.kind, dialog_type=c.dialog_type, sender=sender,
            receiver_her=c.receiver_her.strip(), receiver_role=c.receiver_role,
            refers_to=_maybe(c.refers_to), in_reply_to=_maybe(c.in_reply_to),
            subject=_maybe(c.subject), text=c.text, attachments=c.attachments,
            sent_at=c.sent_at, received_at=now),
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
    who = clinical._who(by)
    if not _is_her(sender_her):
        raise invalid("sender_her: a HER-id is 1 to 9 digits.")
    to = _party(c.to, "to")
    if not c.text.strip():
        raise invalid("text: a message needs text.")
    if c.kind == "dialogmelding":
        if c.dialog_type is None:
            raise invalid("dialog_type: a dialogmelding is a question, an answer or a note "
                          "(foresporsel, svar or notat).")
        if c.attachments:
            raise invalid("attachments: a dialogmelding has no attachments (the national rule "
                          "for clinical dialogue); send them with another message kind.")
    elif c.dialog_type is not None:
        raise invalid("dialog_type: only a dialogmelding has a dialog type.")
    reply_to = _maybe(c.in_reply_to)
    if is_answer_kind(c.kind, c.dialog_type) and reply_to is None:
        raise invalid("in_reply_to: an answer names the message it answers.")
    question: Message | None = None
    if reply_to is not None:
        question = _find(p, reply_to)
        if question is None:
            raise not_found("No such message for this patient to reply to.")
        if question.direction != "in":
            raise invalid("in_reply_to: a reply answers a message we received; to follow up a "
                          "message we sent, use refers_to.")
    message_id = str(uuid4())
    out: list[EventPayload] = [ev.MessageSent(
        message_id=message_id, kind=c.kind, dialog_type=c.dialog_type, sender_her=sender_her,
        to=to, refers_to=_maybe(c.refers_to), in_reply_to=reply_to, subject=_maybe(c.subject),
        text=c.text, attachments=c.attachments, by=who["by"], unit=who["unit"], sent_at=now)]
    if question is not None and _answers(c.kind, c.dialog_type, reply_to):
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
    m = _find(p, c.message_id)
    if m is None or m.direction != "out":
        raise not_found("No such sent message for this patient.")
    errors = tuple(e.strip()[:1000] for e in c.errors if e.strip())
    if c.status == "error" and not errors:
        raise invalid("errors: an error receipt says what was wrong.")
    if m.receipt != "pending":
        if (m.receipt, m.receipt_errors) == (c.status, errors):
            return []
        raise conflict(f"The message already has a receipt ({m.receipt}); a second, different "
                       "one is not accepted.")
    return [ev.ApplicationReceiptReceived(message_id=m.message_id, status=c.status,
                                          errors=errors, received_at=now)]


# --- reads -----------------------------------------------------------------------------------

def message_of(p: Patient, message_id: str) -> Message | None:
    return _find(p, message_id)


def receipt_for(p: Patient, message_id: str) -> Receipt | None:
    """The receipt we sent for an inbound message id (what a repeated message gets again)."""
    return next((r for r in p.receipts if r.message_id == message_id), None)


def thread(p: Patient, message_id: str) -> tuple[Message, ...]:
    """Every message linked to ``message_id`` through ``refers_to`` and ``in_reply_to``, in
    either direction and transitively, oldest first. ``message_id`` may also be the id of a
    referral or epikrise that is no message in the record; an unknown id gives ``()``."""
    links: defaultdict[str, set[str]] = defaultdict(set)
    for m in p.messages:
        for other in (m.refers_to, m.in_reply_to):
            if other is not None:
                links[m.message_id].add(other)
                links[other].add(m.message_id)
    seen, todo = {message_id}, [message_id]
    while todo:
        for nxt in links[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return tuple(sorted((m for m in p.messages if m.message_id in seen), key=lambda m: m.at))


def unanswered(p: Patient) -> tuple[Message, ...]:
    """Questions we received that no message of ours answers yet, oldest first (a reply task
    completed or cancelled some other way does not answer the sender)."""
    return tuple(sorted((m for m in p.messages if m.direction == "in" and m.is_question
                         and m.answered_by is None), key=lambda m: m.at))


def awaiting_answer(p: Patient) -> tuple[Message, ...]:
    """Questions we sent that no received message answers yet, oldest first."""
    return tuple(sorted((m for m in p.messages if m.direction == "out" and m.is_question
                         and m.answered_by is None), key=lambda m: m.at))


# --- evolve ----------------------------------------------------------------------------------

def _answered(messages: tuple[Message, ...], e: ev.MessageReceived | ev.MessageSent,
              direction: Direction) -> tuple[Message, ...]:
    if not _answers(e.kind, e.dialog_type, e.in_reply_to):
        return messages
    return replace_where(messages, lambda m: m.message_id == e.in_reply_to
                         and m.direction == direction and m.answered_by is None,
                         answered_by=e.message_id)


def evolve(p: Patient, e: EventPayload) -> Patient:
    """The messaging arms of ``patients.evolve``; other events leave the state as it is."""
    u = p.model_copy
    match e:
        case ev.MessageReceived():
            m = Message(message_id=e.message_id, direction="in", kind=e.kind,
                        dialog_type=e.dialog_type, sender=e.sender,
                        receiver=Party(her_id=e.receiver_her, name=ROLE_NO[e.receiver_role]),
                        receiver_role=e.receiver_role, refers_to=e.refers_to,
                        in_reply_to=e.in_reply_to, subject=e.subject, text=e.text,
                        attachments=e.attachments, sent_at=e.sent_at, received_at=e.received_at)
            return u(update={"messages": (*_answered(p.messages, e, "out"), m)})
        case ev.ApplicationReceiptSent():
            r = Receipt(message_id=e.message_id, status=e.status, errors=e.errors,
                        to_her=e.to_her, sent_at=e.sent_at)
            return u(update={"receipts": (*p.receipts, r), "messages": replace_where(
                p.messages, lambda m: m.message_id == e.message_id and m.direction == "in",
                receipt=e.status, receipt_errors=e.errors, receipt_at=e.sent_at)})
        case ev.MessageSent():
            m = Message(message_id=e.message_id, direction="out", kind=e.kind,
                        dialog_type=e.dialog_type, sender=Party(her_id=e.sender_her),
                        receiver=e.to, refers_to=e.refers_to, in_reply_to=e.in_reply_to,
                        subject=e.subject, text=e.text, attachments=e.attachments,
                        sent_at=e.sent_at, by=e.by, unit=e.unit)
            return u(update={"messages": (*_answered(p.messages, e, "in"), m)})
        case ev.ApplicationReceiptReceived():
            return u(update={"messages": replace_where(
                p.messages, lambda m: m.message_id == e.message_id and m.direction == "out",
                receipt=e.status, receipt_errors=e.errors, receipt_at=e.received_at)})
        case ev.TaskCreated(message_id=str()):
            return u(update={"messages": replace_where(
                p.messages, lambda m: m.message_id == e.message_id and m.direction == "in",
                reply_task_id=e.task_id)})
    return p
