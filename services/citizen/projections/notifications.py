"""``citizen_notifications`` (from ``consent.events``): what the patient is to be told, one row
per event that calls for it, keyed by the event's id. A redelivered or replayed event finds its
row and adds nothing, so each notification is queued exactly once; the sender
(``services/citizen/notifications``) marks it sent or skipped.

- ``consent.RestrictedEntryOpened`` with ``notify_patient`` (the patient asked, and has not
  opted out: the consent service decided that).
- ``consent.EmergencyAccessGranted`` (sent only if the patient chose emergency notices when the
  sender picks it up).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.access import events as consent
from libs.events.envelope import Envelope
from libs.events.read_model import Projection
from libs.events.registry import EventPayload

NOTIFICATIONS = "citizen_notifications"
OUTBOX = "citizen_outbox"
OWN_KINDS = ("restricted_opened", "emergency_access")   # a reply's is citizen_messages'


async def setup_outbox(conn: AsyncConnection) -> None:
    """The outbox: this projection's rows, and those of ``citizen_messages`` (a new reply)."""
    await conn.execute(text("""
        CREATE TABLE IF NOT EXISTS citizen_outbox (
            notification_id uuid PRIMARY KEY, patient_id uuid NOT NULL,
            kind text NOT NULL, created_at timestamptz NOT NULL,
            sent_at timestamptz, skipped text, attempts integer NOT NULL DEFAULT 0)"""))
    await conn.execute(text("""CREATE INDEX IF NOT EXISTS citizen_outbox_pending
        ON citizen_outbox (created_at) WHERE sent_at IS NULL AND skipped IS NULL"""))


class NotificationsProjection(Projection):
    name = NOTIFICATIONS

    def __init__(self, topic: str = "consent.events"):
        self.topics = (topic,)

    async def setup(self, conn: AsyncConnection) -> None:
        await setup_outbox(conn)

    async def reset(self, conn: AsyncConnection) -> None:
        """A replay keeps what was sent: only rows never sent nor skipped are dropped, and the
        replay queues them again under the same ids (only this projection's kinds)."""
        await conn.execute(text(
            "DELETE FROM citizen_outbox WHERE sent_at IS NULL AND skipped IS NULL "
            "AND kind = ANY(:k)"), {"k": list(OWN_KINDS)})

    async def apply(self, conn: AsyncConnection, env: Envelope, payload: EventPayload) -> None:
        await self.apply_batch(conn, [(env, payload)])

    def wants(self, env: Envelope, payload: EventPayload) -> bool:
        """The two kinds of consent event the citizen is told of."""
        return env.patient_id is not None and (
            (isinstance(payload, consent.RestrictedEntryOpened) and payload.notify_patient)
            or isinstance(payload, consent.EmergencyAccessGranted))

    async def apply_batch(self, conn: AsyncConnection,
                          events: Sequence[tuple[Envelope, EventPayload]]) -> None:
        rows = []
        for env, p in events:
            if env.patient_id is None:
                continue
            if isinstance(p, consent.RestrictedEntryOpened) and p.notify_patient:
                rows.append({"n": env.event_id, "p": env.patient_id, "k": "restricted_opened",
                             "at": p.opened_at})
            elif isinstance(p, consent.EmergencyAccessGranted):
                rows.append({"n": env.event_id, "p": env.patient_id, "k": "emergency_access",
                             "at": p.granted_at})
        if rows:
            await conn.execute(text("""
                INSERT INTO citizen_outbox (notification_id, patient_id, kind, created_at)
                VALUES (:n, :p, :k, :at) ON CONFLICT (notification_id) DO NOTHING"""), rows)
