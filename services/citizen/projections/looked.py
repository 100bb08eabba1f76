"""``citizen_looked`` (from ``audit.access``): every access to a patient's record, by any
service, as the patient's "who looked at my record" page reads it (requirement 49).

``citizen_access_log(event_id, patient_id, accessed_at, doc)``: the entry without its chain
fields; the page names people and units from the directory when it shows them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.audit.log import AccessLogged
from libs.events.envelope import Envelope
from libs.events.read_model import Projection
from libs.events.registry import EventPayload

LOOKED = "citizen_looked"
_KEEP = ("service", "outcome", "actor_kind", "actor_id", "hpr", "name", "legal_entity",
         "point_of_care", "department", "legal_basis", "emergency", "acting_for", "action",
         "category", "accessed_at", "purpose_of_use")


class LookedProjection(Projection):
    name = LOOKED
    idempotent = True   # one row per entry, keyed by its event: a duplicate is kept out

    def __init__(self, topic: str = "audit.access"):
        self.topics = (topic,)

    async def setup(self, conn: AsyncConnection) -> None:
        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS citizen_access_log (
                event_id uuid PRIMARY KEY, patient_id uuid NOT NULL,
                accessed_at timestamptz NOT NULL, doc jsonb NOT NULL)"""))
        await conn.execute(text("""CREATE INDEX IF NOT EXISTS citizen_access_log_patient
            ON citizen_access_log (patient_id, accessed_at DESC)"""))

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(text("TRUNCATE citizen_access_log"))

    async def apply(self, conn: AsyncConnection, env: Envelope, payload: EventPayload) -> None:
        await self.apply_batch(conn, [(env, payload)])

    async def apply_batch(self, conn: AsyncConnection,
                          events: Sequence[tuple[Envelope, EventPayload]]) -> None:
        rows = [{"e": env.event_id, "p": env.patient_id, "at": p.accessed_at,
                 "d": json.dumps(p.model_dump(mode="json", include=set(_KEEP)))}
                for env, p in events if isinstance(p, AccessLogged) and env.patient_id]
        if rows:
            await conn.execute(text("""
                INSERT INTO citizen_access_log VALUES (:e, :p, :at, CAST(:d AS jsonb))
                ON CONFLICT (event_id) DO NOTHING"""), rows)
