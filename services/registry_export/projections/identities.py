"""``registry_identities`` (from ``journal.events``): internal patient id -> national id.

KPR needs the person's national id and a research release derives its pseudonym from it, but
the id must never reach a Kafka-backed faust table (libs/events/faust_app.py). It stays here,
in the service's own PostgreSQL schema, like every other service keeps it; the faust table and
this read model meet on the internal patient id.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.events.envelope import Envelope
from libs.events.read_model import Projection
from libs.events.registry import EventPayload
from services.journal import contract as journal

IDENTITIES = "registry_identities"


class IdentitiesProjection(Projection):
    name = IDENTITIES

    def __init__(self, topic: str = "journal.events"):
        self.topics = (topic,)

    async def setup(self, conn: AsyncConnection) -> None:
        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS registry_identities (
                patient_id uuid PRIMARY KEY, national_id text NOT NULL, id_type text NOT NULL,
                updated_at timestamptz NOT NULL)"""))

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(text("TRUNCATE registry_identities"))

    def wants(self, env: Envelope, payload: EventPayload) -> bool:
        """Registrations and new national ids only, of the journal's many events."""
        return env.patient_id is not None and (
            isinstance(payload, journal.PatientRegistered) or (
                isinstance(payload, journal.PatientDetailsChanged) and bool(payload.national_id)))

    async def apply_batch(self, conn: AsyncConnection,
                          events: Sequence[tuple[Envelope, EventPayload]]) -> None:
        for env, p in events:
            if self.wants(env, p):
                await conn.execute(text("""
                    INSERT INTO registry_identities (patient_id, national_id, id_type,
                                                     updated_at)
                    VALUES (:p, :n, :t, :at)
                    ON CONFLICT (patient_id) DO UPDATE
                    SET national_id = excluded.national_id, id_type = excluded.id_type,
                        updated_at = excluded.updated_at"""),
                    {"p": env.patient_id, "n": p.national_id, "t": str(p.id_type or "fnr"),
                     "at": env.recorded_at})


async def national_ids(engine: AsyncEngine) -> dict[str, str]:
    """Every known patient id -> national id."""
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT patient_id, national_id FROM registry_identities"))).all()
    return {str(r.patient_id): r.national_id for r in rows}
