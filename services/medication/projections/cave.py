"""``medication_cave`` (from ``journal.events``): the patient's critical information (CAVE) as the
journal records it, for decision support. It applies every journal event (most change nothing
here), so a client that registered a CAVE in the journal can send the journal's consistency
token with its next order and be checked against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.events.envelope import Envelope
from libs.events.read_model import Projection
from libs.events.registry import EventPayload
from services.journal import contract as journal

CAVE = "medication_cave"


@dataclass(frozen=True)
class CaveItem:
    """Critical information as decision support reads it (``CaveEntry``)."""

    critical_id: UUID
    category: str
    substance: str | None
    status: str


_CAVE_STATUS = {journal.CriticalInfoVerified: "verified", journal.CriticalInfoRefuted: "refuted",
                journal.CriticalInfoRemoved: "removed"}


class CaveProjection(Projection):
    name = CAVE

    def __init__(self, topic: str = "journal.events"):
        self.topics = (topic,)

    async def setup(self, conn: AsyncConnection) -> None:
        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS medication_cave (
                critical_id uuid PRIMARY KEY, patient_id uuid NOT NULL, category text NOT NULL,
                substance text, status text NOT NULL, updated_at timestamptz NOT NULL)"""))
        await conn.execute(text(
            "CREATE INDEX IF NOT EXISTS medication_cave_patient ON medication_cave (patient_id)"))

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(text("TRUNCATE medication_cave"))

    def wants(self, env: Envelope, payload: EventPayload) -> bool:
        """Critical information only, of the journal's many events."""
        return env.patient_id is not None and (
            isinstance(payload, journal.CriticalInfoRegistered) or type(payload) in _CAVE_STATUS)

    async def apply_batch(self, conn: AsyncConnection,
                          events: Sequence[tuple[Envelope, EventPayload]]) -> None:
        for env, p in events:
            if env.patient_id is None:
                continue
            if isinstance(p, journal.CriticalInfoRegistered):
                await conn.execute(text("""
                    INSERT INTO medication_cave (critical_id, patient_id, category, substance,
                                                 status, updated_at)
                    VALUES (:c, :p, :cat, :s, 'registered', :t)
                    ON CONFLICT (critical_id) DO NOTHING"""),
                    {"c": p.critical_id, "p": env.patient_id, "cat": p.category,
                     "s": p.substance, "t": env.recorded_at})
            elif (status := _CAVE_STATUS.get(type(p))) is not None:
                await conn.execute(text(
                    "UPDATE medication_cave SET status = :s, updated_at = :t "
                    "WHERE critical_id = :c"),
                    {"s": status, "t": env.recorded_at, "c": p.critical_id})
