"""``citizen_medicines`` (from ``medication.events``): the patient's medicines as they read them.

- ``citizen_medicines(patient_id, entry_id, doc)``: each entry of the list (drug, dose, status,
  indication, who prescribed it).
- ``citizen_medicine_changes(event_id, patient_id, entry_id, type, at, by)``: every change and
  who made it, for "changes and who made them".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.events.envelope import Envelope
from libs.events.read_model import Projection
from libs.events.registry import EventPayload
from services.citizen.domain.medicines import CHANGES
from services.medication import contract as m

MEDICINES = "citizen_medicines"
_STATUS = {m.MedicationPaused: "paused", m.MedicationResumed: "active",
           m.MedicationDiscontinued: "discontinued"}


class MedicinesProjection(Projection):
    name = MEDICINES

    def __init__(self, topic: str = "medication.events"):
        self.topics = (topic,)

    async def setup(self, conn: AsyncConnection) -> None:
        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS citizen_medicines (
                patient_id uuid NOT NULL, entry_id uuid NOT NULL, doc jsonb NOT NULL,
                PRIMARY KEY (patient_id, entry_id))"""))
        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS citizen_medicine_changes (
                event_id uuid PRIMARY KEY, patient_id uuid NOT NULL, entry_id uuid NOT NULL,
                type text NOT NULL, at timestamptz NOT NULL, doc jsonb NOT NULL)"""))
        await conn.execute(text("""CREATE INDEX IF NOT EXISTS citizen_medicine_changes_patient
            ON citizen_medicine_changes (patient_id, at)"""))

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(text("TRUNCATE citizen_medicines, citizen_medicine_changes"))

    async def apply(self, conn: AsyncConnection, env: Envelope, payload: EventPayload) -> None:
        await self.apply_batch(conn, [(env, payload)])

    async def apply_batch(self, conn: AsyncConnection,
                          events: Sequence[tuple[Envelope, EventPayload]]) -> None:
        for env, p in events:
            if env.patient_id is None or env.type not in CHANGES:
                continue
            await self._apply(conn, env.patient_id, p)
            await conn.execute(text("""
                INSERT INTO citizen_medicine_changes VALUES (:e, :p, :i, :t, :at,
                                                             CAST(:d AS jsonb))
                ON CONFLICT (event_id) DO NOTHING"""), {
                "e": env.event_id, "p": env.patient_id, "i": p.entry_id, "t": env.type,
                "at": p.recorded_at, "d": json.dumps({
                    "by": p.by.model_dump(mode="json"),
                    "reason": getattr(p, "reason", None)})})

    async def _apply(self, conn: AsyncConnection, pid: UUID, p: EventPayload) -> None:
        if isinstance(p, m.MedicationPrescribed | m.MedicationRecordedFromOtherSource):
            doc = {"entry_id": str(p.entry_id), "drug": p.drug.model_dump(mode="json"),
                   "dose": p.dose.model_dump(mode="json"), "indication": p.indication,
                   "start_on": p.start_on.isoformat(),
                   "end_on": p.end_on.isoformat() if p.end_on else None,
                   "status": "active", "by": p.by.model_dump(mode="json")}
            await conn.execute(text("""
                INSERT INTO citizen_medicines VALUES (:p, :i, CAST(:d AS jsonb))
                ON CONFLICT (patient_id, entry_id) DO UPDATE SET doc = EXCLUDED.doc"""),
                {"p": pid, "i": p.entry_id, "d": json.dumps(doc)})
            return
        patch: dict = {}
        if isinstance(p, m.DoseChanged):
            patch = {"dose": p.dose.model_dump(mode="json")}
        elif type(p) in _STATUS:
            patch = {"status": _STATUS[type(p)]}
        if patch:
            await conn.execute(text("""
                UPDATE citizen_medicines SET doc = doc || CAST(:d AS jsonb)
                 WHERE patient_id = :p AND entry_id = :i"""),
                {"p": pid, "i": p.entry_id, "d": json.dumps(patch)})
