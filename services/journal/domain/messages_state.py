"""Messages as state of a patient's stream: each a journal document with its receipt and the
message that answered it, the receipts we sent, the reads on them (threads, unanswered
questions) and their fold (the messaging arms of ``patients.evolve``). Decisions on them are
``messages.py``'s.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from libs.events.evolve import replace_where
from libs.events.registry import EventPayload
from libs.kernel.model import Frozen
from services.journal import contract as ev
from services.journal.contract import (
    DialogType, MessageKind, Party, ReceiptStatus, ReceiverRole,
)

if TYPE_CHECKING:
    from services.journal.domain.patients import Patient

ROLE_NO: dict[str, str] = {"sykepleietjeneste": "Sykepleietjeneste PO",
                           "legetjeneste": "Legetjeneste PO",
                           "saksbehandler": "Saksbehandler pleie, omsorg, rehab"}

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


def is_question(kind: str, dialog_type: str | None) -> bool:
    """Whether a message asks for an answer: a PLO forespørsel or a dialogmelding forespørsel."""
    return kind == "foresporsel" or (kind == "dialogmelding" and dialog_type == "foresporsel")


def is_answer_kind(kind: str, dialog_type: str | None) -> bool:
    """A svar på forespørsel, or a dialogmelding of type svar: it must name what it answers."""
    return kind == "svar_pa_foresporsel" or (kind == "dialogmelding" and dialog_type == "svar")


def answers(kind: str, dialog_type: str | None, in_reply_to: str | None) -> bool:
    """Whether a message naming ``in_reply_to`` answers it: unless it is itself a question."""
    return in_reply_to is not None and not is_question(kind, dialog_type)


# --- reads -----------------------------------------------------------------------------------

def message_of(p: Patient, message_id: str) -> Message | None:
    return next((m for m in p.messages if m.message_id == message_id), None)


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
    if not answers(e.kind, e.dialog_type, e.in_reply_to):
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
