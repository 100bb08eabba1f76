"""``citizen_messages`` (from ``journal.events``): the patient's messages with their care team
(requirement 52) and the replies, and a "new message" notification per reply.

- ``citizen_messages(patient_id, message_id, doc, at)``: what the patient wrote, and to which
  unit.
- ``citizen_message_replies(reply_id, patient_id, message_id, doc, at)``: a clinician's reply.
- A reply also queues one ``new_message`` row in ``citizen_outbox``, keyed by the event's id: a
  redelivered or replayed event adds nothing, so the e-mail goes once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.events.envelope import Envelope
from libs.events.read_model import Projection
from libs.events.registry import EventPayload
from services.citizen.projections.notifications import OUTBOX, setup_outbox
from services.journal import contract as j

MESSAGES = "citizen_messages"


class MessagesProjection(Projection):
    name = MESSAGES

    def __init__(self, topic: str = "journal.events"):
        self.topics = (topic,)

    async def setup(self, conn: AsyncConnection) -> None:
        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS citizen_messages (
                patient_id uuid NOT NULL, message_id uuid NOT NULL, doc jsonb NOT NULL,
                at timestamptz NOT NULL, PRIMARY KEY (patient_id, message_id))"""))
        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS citizen_message_replies (
                reply_id uuid PRIMARY KEY, patient_id uuid NOT NULL, message_id uuid NOT NULL,
                doc jsonb NOT NULL, at timestamptz NOT NULL)"""))
        await setup_outbox(conn)

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(text("TRUNCATE citizen_messages, citizen_message_replies"))
        await conn.execute(text(f"DELETE FROM {OUTBOX} WHERE kind = 'new_message' AND "
                                "sent_at IS NULL AND skipped IS NULL"))

    async def apply(self, conn: AsyncConnection, env: Envelope, payload: EventPayload) -> None:
        await self.apply_batch(conn, [(env, payload)])

    async def apply_batch(self, conn: AsyncConnection,
                          events: Sequence[tuple[Envelope, EventPayload]]) -> None:
        for env, p in events:
            pid = env.patient_id
            match p:
                case j.CareTeamMessageReceived() if pid is not None:
                    doc = {"message_id": str(p.message_id), "unit": p.unit,
                           "subject": p.subject, "text": p.text,
                           "written_by": str(p.written_by),
                           "received_at": p.received_at.isoformat()}
                    await conn.execute(text("""
                        INSERT INTO citizen_messages VALUES (:p, :m, CAST(:d AS jsonb), :at)
                        ON CONFLICT DO NOTHING"""), {"p": pid, "m": p.message_id,
                                                     "d": json.dumps(doc), "at": p.received_at})
                case j.CareTeamReplySent() if pid is not None:
                    doc = {"reply_id": str(p.reply_id), "text": p.text, "by": p.by,
                           "unit": p.unit, "sent_at": p.sent_at.isoformat()}
                    await conn.execute(text("""
                        INSERT INTO citizen_message_replies
                        VALUES (:r, :p, :m, CAST(:d AS jsonb), :at) ON CONFLICT DO NOTHING"""),
                        {"r": p.reply_id, "p": pid, "m": p.message_id, "d": json.dumps(doc),
                         "at": p.sent_at})
                    await conn.execute(text(f"""
                        INSERT INTO {OUTBOX} (notification_id, patient_id, kind, created_at)
                        VALUES (:n, :p, 'new_message', :at)
                        ON CONFLICT (notification_id) DO NOTHING"""),
                        {"n": env.event_id, "p": pid, "at": p.sent_at})
