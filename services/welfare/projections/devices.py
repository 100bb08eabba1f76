"""``welfare_devices`` (from ``consent.events``): which device is assigned to which person, for
which technology (``consent.DeviceAssigned`` / ``DeviceUnassigned``). The guard already knows
*that* a device is assigned (the access facts); this says *what* it is, so a reading is checked
against the legal basis for that technology."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.access import events as consent
from libs.access.model import Facts
from libs.audit.facts_store import FACTS_OF, facts_from
from libs.events.db import pooled
from libs.events.envelope import Envelope
from libs.events.read_model import Projection
from libs.events.registry import EventPayload

DEVICES = "welfare_devices"


class DevicesProjection(Projection):
    name = DEVICES

    def __init__(self, topic: str = "consent.events"):
        self.topics = (topic,)

    async def setup(self, conn: AsyncConnection) -> None:
        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS welfare_devices (
                patient_id uuid NOT NULL, client_id text NOT NULL, technology text NOT NULL,
                since timestamptz NOT NULL, ended_at timestamptz,
                PRIMARY KEY (patient_id, client_id, since))"""))

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(text("TRUNCATE welfare_devices"))

    async def apply_batch(self, conn: AsyncConnection,
                          events: Sequence[tuple[Envelope, EventPayload]]) -> None:
        for env, p in events:
            if isinstance(p, consent.DeviceAssigned):
                await conn.execute(text("""
                    INSERT INTO welfare_devices (patient_id, client_id, technology, since)
                    VALUES (:p, :c, :t, :s) ON CONFLICT DO NOTHING"""),
                    {"p": env.patient_id, "c": p.client_id, "t": p.technology, "s": p.since})
            elif isinstance(p, consent.DeviceUnassigned):
                await conn.execute(text("""
                    UPDATE welfare_devices SET ended_at = :e
                     WHERE patient_id = :p AND client_id = :c AND ended_at IS NULL"""),
                    {"p": env.patient_id, "c": p.client_id, "e": p.ended_at})


async def facts_and_technology(engine: AsyncEngine, patient_id: UUID, client_id: str,
                               now: datetime) -> tuple[Facts, str | None]:
    """The person's access facts (for the guard to decide on, before anything else is used)
    and the technology of the device's assignment to them in force now, if any. One statement
    on the driver's connection: an ingest request read them in two round trips, each about
    3 % of the API's CPU (``bench/profiles/welfare-ingest-now1.svg``)."""
    async with pooled(engine) as conn:
        raw, technology = await conn.fetchrow(f"""
            SELECT {FACTS_OF.format("$1")}, (
                SELECT technology FROM welfare_devices
                 WHERE patient_id = $1 AND client_id = $2 AND since <= $3
                   AND (ended_at IS NULL OR ended_at > $3)
                 ORDER BY since DESC LIMIT 1)""", patient_id, client_id, now)
    return facts_from(raw, patient_id), technology
