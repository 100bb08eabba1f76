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
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import text

from libs.access.guard import AccessDep, CurrentSubject, Grant, actor_of, declared, guarded
from libs.access.model import Action, Basis, Device, Resource
from libs.config import Settings
from libs.web.errors import outcome_response
from services.journal.api import IfMatch, Journal, change, clinician, hidden
from services.journal.domain import Refused
from services.journal.domain import messages as msg
from services.journal.domain.events import ReceiverRole
from services.journal.domain.patients import Patient
from services.journal.process_api import body_of

router = APIRouter(tags=["messages"])

# Demo values outside production: the three parties every municipality must register (§7)
DEMO_PARTIES: dict[str, dict[str, str]] = {
    "8140001": {"role": "sykepleietjeneste", "unit": "974600978",
                "name": "Sykepleietjeneste PO"},
    "8140002": {"role": "legetjeneste", "unit": "987654325", "name": "Legetjeneste PO"},
    "8140003": {"role": "saksbehandler", "unit": "889640782",
                "name": "Saksbehandler pleie, omsorg, rehab"},
}
DEMO_GATEWAYS = ("dev-edi-gateway",)


class OurParty(BaseModel):
    her_id: str
    role: ReceiverRole
    unit: str
    name: str | None = None


def parties(settings: Settings) -> dict[str, OurParty]:
    raw = settings.messaging_parties or (
        DEMO_PARTIES if settings.environment != "production" else {})
    return {her: OurParty(her_id=her, **p) for her, p in raw.items()}


def gateways(settings: Settings) -> tuple[str, ...]:
    return settings.message_gateways or (
        DEMO_GATEWAYS if settings.environment != "production" else ())


def gateway(who, settings: Settings) -> Device:
    if not (isinstance(who, Device) and who.client_id in gateways(settings)):
        raise Refused(403, "Only the message gateway delivers messages.")
    return who


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
async def receive(body: Inbound, request: Request, response: Response, who: CurrentSubject,
                  access: AccessDep, store: Journal):
    settings = request.app.state.settings
    gate = gateway(who, settings)
    party = parties(settings).get(body.receiver_her)
    if party is None:
        return _error_receipt(body.message_id, [
            f"Mottaker {body.receiver_her[:20]} er ikke en av våre kommunikasjonsparter."])
    patient_id = await store.claimed_by(body.patient.national_id.strip())
    if patient_id is None:
        return _error_receipt(body.message_id, ["Pasienten er ikke kjent hos mottaker."])
    command = msg.ReceiveMessage(receiver_role=party.role,
                                 **body.model_dump(exclude={"patient"}))
    await access.record(gate, Action.write, Resource(patient_id=patient_id,
                                                     category="messages"),
                        declared("message_received", Basis.administration),
                        resources=(f"message/{body.message_id}"[:200],))
    now = access.now()
    result = await store.execute(patient_id, lambda p: msg.receive_message(
        p, command, now, reply_unit=party.unit), actor_of(gate))
    patient, _ = await store.current(patient_id)   # the cached fold, just updated
    found = msg.receipt_for(patient, body.message_id)
    if found is None:   # unreachable: the message or its receipt is in the record now
        raise Refused(409, "The message could not be receipted; send it again.")
    if found.status == "error":
        return _error_receipt(body.message_id, list(found.errors))
    if result is not None:
        response.headers["X-Consistency-Token"] = result.token.encode()
    response.status_code = 201 if result is not None else 200   # 200: a repeat, ignored
    return found.model_dump(mode="json")


ReceiptBody = body_of(msg.ReceiveReceipt, "message_id")


@router.post("/messages/{message_id}/receipt")
async def receipt(message_id: str, body: ReceiptBody, request: Request, response: Response,
                  who: CurrentSubject, access: AccessDep, store: Journal):
    """The receiver's application receipt for a message we sent."""
    gate = gateway(who, request.app.state.settings)
    patient_id = await _patient_of_sent(store, message_id)
    if patient_id is None:
        raise Refused(404, "We have sent no message with this id.")
    await access.record(gate, Action.write, Resource(patient_id=patient_id,
                                                     category="messages"),
                        declared("receipt_received", Basis.administration))
    command = msg.ReceiveReceipt(message_id=message_id, **body.model_dump())
    now = access.now()
    result = await store.execute(patient_id, lambda p: msg.receive_receipt(p, command, now),
                                 actor_of(gate))
    response.status_code = 200
    return {"message_id": message_id, "recorded": result is not None}


async def _patient_of_sent(store, message_id: str) -> UUID | None:
    """The patient of a message we sent, from the event store (indexed, see ``setup``)."""
    async with store.store.engine.connect() as conn:
        row = await conn.execute(text("""
            SELECT patient_id FROM events
             WHERE type = 'journal.MessageSent' AND envelope->'data'->>'message_id' = :m
             LIMIT 1"""), {"m": message_id})
        return row.scalar_one_or_none()


async def setup(engine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("""
            CREATE INDEX IF NOT EXISTS events_sent_message_id
                ON events ((envelope->'data'->>'message_id'))
             WHERE type = 'journal.MessageSent'"""))


# --- clinicians ------------------------------------------------------------------------------

@router.post("/patients/{patient_id}/messages", status_code=201)
async def send(patient_id: UUID, body: msg.SendMessage, request: Request, response: Response,
               store: Journal, access: AccessDep, if_match: IfMatch = None,
               grant: Grant = Depends(guarded(Action.write, "messages"))):
    """Send a message (the transport picks it up from ``journal.events``); answering a question
    completes its reply task."""
    by, now = clinician(grant.subject), access.now()
    ours = [p for p in parties(request.app.state.settings).values() if p.unit == by.unit]
    if not ours:
        raise Refused(422, "Your unit is none of our messaging parties, so it cannot send "
                           "messages (EHR_MESSAGING_PARTIES).")
    return await change(response, store, patient_id, grant, lambda p: msg.send_message(
        p, body, by, now, sender_her=ours[0].her_id), if_match, lambda r: {
            "message_id": r.envelopes[0].data["message_id"]})


@router.get("/patients/{patient_id}/messages")
async def list_messages(patient_id: UUID, store: Journal, request: Request,
                        unanswered: bool = False,
                        grant: Grant = Depends(guarded(Action.read, "messages"))):
    """The patient's messages, newest first, each with its thread; ``unanswered`` for the
    questions we still owe an answer."""
    found = await request.app.state.reader.patient(patient_id)
    if found is None:
        raise Refused(404, "No record for this patient in the journal.")
    patient: Patient = found[0]
    if "messages" in hidden(grant):
        return {"messages": [], "withheld": True}
    chosen = msg.unanswered(patient) if unanswered else patient.messages
    return {"messages": [_view(patient, m) for m in sorted(chosen, key=lambda m: m.at,
                                                           reverse=True)]}


def _view(p: Patient, m: msg.Message) -> dict[str, Any]:
    return m.model_dump(mode="json") | {
        "thread": [t.message_id for t in msg.thread(p, m.message_id)]}

