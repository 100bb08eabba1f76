"""The ``journal.events`` contract for messaging: PLO messages, dialogmelding, epikrise and
henvisning (DOMAIN.md §7 and §11 requirements 27-29).

A message is a journal document: stored whole, never changed; only its receipt status and the
link to the message that answers it follow from later events. ``message_id`` is the business
document's id (the sender's MsgId for an inbound message, a new UUID for ours) and is unique
within the patient's record. Every inbound message gets an application receipt
(applikasjonskvittering); an invalid one gets only that receipt.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from libs.events.registry import EventPayload, event
from services.journal.contract.values import Hpr, OrgNr, Value

MessageKind = Literal[
    "helseopplysninger", "helseopplysninger_til_lege", "melding_om_innlagt_pasient",
    "innleggelsesrapport", "utskrivningsrapport", "foresporsel", "svar_pa_foresporsel",
    "orientering_om_tjenestetilbud", "medisinske_opplysninger", "dodsmelding", "avviksmelding",
    "dialogmelding", "epikrise", "henvisning"]
"""PLO messages (v1.6) by their Norwegian names, plus dialogmelding (v1.1) and the basismeldinger
epikrise and henvisning."""
DialogType = Literal["foresporsel", "svar", "notat"]
"""A dialogmelding's type (helsefaglig dialog): a question, an answer, or a note (asks for no
answer)."""
ReceiverRole = Literal["sykepleietjeneste", "legetjeneste", "saksbehandler"]
"""The three communication parties every municipality registers: Sykepleietjeneste PO,
Legetjeneste PO, Saksbehandler pleie, omsorg, rehab."""
ReceiptStatus = Literal["ok", "error"]
MessageId = Field(min_length=1, max_length=100, pattern=r"^\S+$",
                  description="business document id (MsgId)")
HerId = Field(pattern=r"^\d{1,9}$", description="HER-id (Adresseregisteret)")
MessageText = Field(min_length=1, max_length=50000)
ReceiptError = Annotated[str, Field(min_length=1, max_length=1000)]


class Party(Value):
    """A communication party in the Adresseregister, addressed by HER-id."""

    her_id: str = HerId
    name: str | None = Field(default=None, max_length=200)
    orgnr: str | None = Field(default=None, pattern=r"^\d{9}$",
                              description="organisation number (ENH), mod-11 checked")


@event("journal.MessageReceived")
class MessageReceived(EventPayload):
    """A valid inbound message, stored as a journal document. ``receiver_her`` is the HER-id of
    our communication party it was addressed to, ``receiver_role`` which of the three it is,
    ``unit`` the unit (organisation number) that party belongs to, which takes the message in:
    a message addressed to a unit is a fact that it takes part in the patient's care, and the
    consent service gives it a time-limited care relation (``None`` on messages stored before
    the unit was recorded)."""

    message_id: str = MessageId
    kind: MessageKind
    dialog_type: DialogType | None = None
    sender: Party
    receiver_her: str = HerId
    receiver_role: ReceiverRole
    refers_to: str | None = Field(default=None, min_length=1, max_length=100,
                                  description="the referral, epikrise or message it concerns")
    in_reply_to: str | None = Field(default=None, min_length=1, max_length=100)
    subject: str | None = Field(default=None, max_length=200)
    text: str = MessageText
    attachments: int = Field(default=0, ge=0)
    sent_at: datetime
    received_at: datetime
    unit: str | None = Field(default=None, pattern=r"^\d{9}$",
                             description="the receiving unit's organisation number")


@event("journal.ApplicationReceiptSent")
class ApplicationReceiptSent(EventPayload):
    """Our applikasjonskvittering for an inbound message: ``ok``, or ``error`` with the reasons
    (Norwegian sentences for the sender's clinicians); an ``error`` message is not stored."""

    message_id: str = MessageId
    status: ReceiptStatus
    errors: tuple[ReceiptError, ...] = Field(default=(), max_length=20)
    to_her: str | None = Field(default=None, pattern=r"^\d{1,9}$",
                               description="the sender's HER-id; None when it was not one")
    sent_at: datetime


@event("journal.MessageSent")
class MessageSent(EventPayload):
    """A message we sent, written by ``by`` in ``unit``, from our party ``sender_her``."""

    message_id: str = MessageId
    kind: MessageKind
    dialog_type: DialogType | None = None
    sender_her: str = HerId
    to: Party
    refers_to: str | None = Field(default=None, min_length=1, max_length=100)
    in_reply_to: str | None = Field(default=None, min_length=1, max_length=100)
    subject: str | None = Field(default=None, max_length=200)
    text: str = MessageText
    attachments: int = Field(default=0, ge=0)
    by: str = Hpr
    unit: str = OrgNr
    sent_at: datetime


@event("journal.ApplicationReceiptReceived")
class ApplicationReceiptReceived(EventPayload):
    """The receiver's applikasjonskvittering for a message we sent: delivered (``ok``) or not."""

    message_id: str = MessageId
    status: ReceiptStatus
    errors: tuple[ReceiptError, ...] = Field(default=(), max_length=20)
    received_at: datetime
