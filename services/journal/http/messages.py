"""Messaging over HTTP (DOMAIN.md §7, requirements 27-29): the message gateway delivers inbound
PLO messages, dialogmeldinger, epikriser and henvisninger; clinicians send and read them.

- ``POST /messages`` (the gateway, a client in ``EHR_MESSAGE_GATEWAYS``): the receiver HER-id
  names one of our communication parties (``EHR_MESSAGING_PARTIES``: role and the unit that
  answers); the patient is found by national id. The answer is the application receipt: 201 and
  ``ok`` for a stored message, 200 with the stored receipt for a repeated message id (ignored,
  requirement 28), 422 with ``error`` and the reasons for a message we cannot take. A question
  becomes a reply task on the answering unit's worklist, due in 3 working days.
- ``POST /messages/{message_id}/receipt`` (the gateway): the receiver's receipt for a message we
  sent.
- ``POST /patients/{id}/messages`` (a clinician): send; the sending party is the one of the
  clinician's unit. ``GET /patients/{id}/messages`` lists them with their threads.

The gateway's writes are declared accesses (the message names its patient); the settings
(parties, gateways) come from ``app.state.settings``.
"""

from __future__ import annotations

from typing import Annotated, Any, Protocol
from uuid import UUID

from fastapi import Depends, Request
from pydantic import BaseModel, Field

from libs.access.model import Action, Basis, Device
from libs.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from libs.web.errors import outcome_response
from libs.web.guard import Grant, guarded
from libs.web.guard import declared as declared_decision
from libs.web.write import Write, created, declared, write
from libs.web.routing import PathRouter
from services.journal.contract import ReceiverRole
from services.journal.domain import messages as msg
from services.journal.domain import messages_state
from services.journal.domain.patients import Patient
from services.journal.http.deps import WHAT, body_of, hidden, journal_store, journal_write

router = PathRouter(tags=["messages"])

# Demo values outside production: the three parties every municipality must register (§7)
DEMO_PARTIES: dict[str, dict[str, str]] = {
    "8140001": {"role": "sykepleietjeneste", "unit": "974600978",
                "name": "Sykepleietjeneste PO"},
    "8140002": {"role": "legetjeneste", "unit": "987654325", "name": "Legetjeneste PO"},
    "8140003": {"role": "saksbehandler", "unit": "889640782",
                "name": "Saksbehandler pleie, omsorg, rehab"},
}
DEMO_GATEWAYS = ("dev-edi-gateway",)


class MessagingSettings(Protocol):
    """What messaging reads of the service's settings (``app.state.settings``)."""

    environment: str
    messaging_parties: dict[str, dict[str, str]]
    message_gateways: tuple[str, ...]


class OurParty(BaseModel):
    her_id: str
    role: ReceiverRole
    unit: str
    name: str | None = None


def parties(settings: MessagingSettings) -> dict[str, OurParty]:
    raw = settings.messaging_parties or (
        DEMO_PARTIES if settings.environment != "production" else {})
    return {her: OurParty(her_id=her, **p) for her, p in raw.items()}


def gateways(settings: MessagingSettings) -> tuple[str, ...]:
    return settings.message_gateways or (
        DEMO_GATEWAYS if settings.environment != "production" else ())


def gateway(who, settings: MessagingSettings) -> Device:
    if not (isinstance(who, Device) and who.client_id in gateways(settings)):
        raise Forbidden("Only the message gateway delivers messages.")
    return who


def _gateway_write(reason: str) -> Any:
    return Annotated[Write, Depends(write(
        "messages", store=journal_store, what=WHAT,
        authorize=declared(declared_decision(reason, Basis.administration), "messages")))]


InboundWrite = _gateway_write("message_received")
ReceiptWrite = _gateway_write("receipt_received")
MessagesWrite = journal_write("messages", documenting=True)


class PatientRef(BaseModel):
    national_id: str = Field(min_length=1, max_length=20,
                             description="the patient the message is about")


InboundBody = body_of(msg.ReceiveMessage, "receiver_role")


class Inbound(InboundBody):  # type: ignore[misc, valid-type]
    patient: PatientRef


def _error_receipt(message_id: str, errors: list[str]):
    return outcome_response(422, "invalid", [f"Applikasjonskvittering (feil) for {message_id}: "
                                             + e for e in errors])


@router.post("/messages", status_code=201)
async def receive(body: Inbound, request: Request, w: InboundWrite):
    settings = request.app.state.settings
    gateway(w.subject, settings)
    party = parties(settings).get(body.receiver_her)
    if party is None:
        return _error_receipt(body.message_id, [
            f"Mottaker {body.receiver_her[:20]} er ikke en av våre kommunikasjonsparter."])
    patient_id = await w.store.claimed_by(body.patient.national_id.strip())
    if patient_id is None:
        return _error_receipt(body.message_id, ["Pasienten er ikke kjent hos mottaker."])
    command = msg.ReceiveMessage(receiver_role=party.role,
                                 **body.model_dump(exclude={"patient"}))
    await w.apply(lambda p: msg.receive_message(p, command, w.now, reply_unit=party.unit),
                  patient_id=patient_id,   # 201 written, 200 a repeat (ignored)
                  access_resources=(f"message/{body.message_id}"[:200],))
    patient, _ = await w.store.current(patient_id)   # the cached fold, just updated
    found = messages_state.receipt_for(patient, body.message_id)
    if found is None:   # unreachable: the message or its receipt is in the record now
        raise Conflict("The message could not be receipted; send it again.")
    if found.status == "error":
        return _error_receipt(body.message_id, list(found.errors))
    return found.model_dump(mode="json")


ReceiptBody = body_of(msg.ReceiveReceipt, "message_id")


@router.post("/messages/{message_id}/receipt")
async def receipt(message_id: str, body: ReceiptBody, request: Request, w: ReceiptWrite):
    """The receiver's application receipt for a message we sent."""
    gateway(w.subject, request.app.state.settings)
    patient_id = await w.store.patient_of_sent(message_id)
    if patient_id is None:
        raise NotFound("We have sent no message with this id.")
    command = msg.ReceiveReceipt(message_id=message_id, **body.model_dump())
    return await w.apply(lambda p: msg.receive_receipt(p, command, w.now), patient_id=patient_id,
                         body={"message_id": message_id, "recorded": True},
                         unchanged={"message_id": message_id, "recorded": False}, status=200)


# --- clinicians ------------------------------------------------------------------------------

@router.post("/patients/{patient_id}/messages", status_code=201)
async def send(patient_id: UUID, body: msg.SendMessage, request: Request, w: MessagesWrite):
    """Send a message (the transport picks it up from ``journal.events``); answering a question
    completes its reply task."""
    ours = [p for p in parties(request.app.state.settings).values() if p.unit == w.actor.unit]
    if not ours:
        raise Invalid("Your unit is none of our messaging parties, so it cannot send "
                      "messages (EHR_MESSAGING_PARTIES).")
    return await w.apply(lambda p: msg.send_message(p, body, w.actor, w.now,
                                                    sender_her=ours[0].her_id),
                         body=created("message_id"))


@router.get("/patients/{patient_id}/messages")
async def list_messages(patient_id: UUID, request: Request, unanswered: bool = False,
                        grant: Grant = Depends(guarded(Action.read, "messages"))):
    """The patient's messages, newest first, each with its thread; ``unanswered`` for the
    questions we still owe an answer."""
    found = await request.app.state.reader.patient(patient_id)
    if found is None:
        raise NotFound("No record for this patient in the journal.")
    patient: Patient = found[0]
    if "messages" in hidden(grant):
        return {"messages": [], "withheld": True}
    chosen = messages_state.unanswered(patient) if unanswered else patient.messages
    return {"messages": [_view(patient, m) for m in sorted(chosen, key=lambda m: m.at,
                                                           reverse=True)]}


def _view(p: Patient, m: messages_state.Message) -> dict[str, Any]:
    return m.model_dump(mode="json") | {
        "thread": [t.message_id for t in messages_state.thread(p, m.message_id)]}
