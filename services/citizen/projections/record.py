"""``citizen_record`` (from ``journal.events``, and ``welfare.events`` for the measurements of
welfare technology: accepted ones, and quarantined ones once released): what of the record a
citizen may be shown.

- ``citizen_people(patient_id, given, family, birth_date)``: the name on the banner.
- ``citizen_items(patient_id, item_id, kind, doc, at)``: notes (with their status; the page
  shows signed ones after the hold-back), vital signs, conditions, critical information
  (CAVE) and planned home-care visits, each as the citizen API returns it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid5

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.events.envelope import Envelope
from libs.events.read_model import Projection
from libs.events.registry import EventPayload
from services.journal import contract as j
from services.welfare import contract as w

RECORD = "citizen_record"
SHOWN = ("NOT EXISTS (SELECT 1 FROM citizen_withheld w WHERE w.patient_id = "
         "citizen_items.patient_id AND w.entry_id = citizen_items.item_id)")
"""The SQL condition every read of ``citizen_items`` adds: nothing withheld from the patient."""

_STATUS = {j.CriticalInfoVerified: "verified", j.CriticalInfoRefuted: "refuted",
           j.CriticalInfoRemoved: "removed"}


def _iso(v: Any) -> str:
    return v.isoformat() if hasattr(v, "isoformat") else str(v)


class RecordProjection(Projection):
    name = RECORD

    def __init__(self, topic: str = "journal.events",
                 welfare_topic: str | None = "welfare.events"):
        self.topics = (topic,) + ((welfare_topic,) if welfare_topic else ())

    async def setup(self, conn: AsyncConnection) -> None:
        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS citizen_people (
                patient_id uuid PRIMARY KEY, given text NOT NULL, family text NOT NULL,
                birth_date date NOT NULL)"""))
        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS citizen_items (
                patient_id uuid NOT NULL, item_id uuid NOT NULL, kind text NOT NULL,
                doc jsonb NOT NULL, at timestamptz NOT NULL,
                PRIMARY KEY (patient_id, item_id))"""))
        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS citizen_withheld (
                patient_id uuid NOT NULL, entry_id uuid NOT NULL,
                PRIMARY KEY (patient_id, entry_id))"""))

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(text("TRUNCATE citizen_people, citizen_items, citizen_withheld"))

    async def _insert(self, conn, patient: UUID, item: UUID, kind: str, doc: dict, at) -> None:
        await conn.execute(text("""
            INSERT INTO citizen_items (patient_id, item_id, kind, doc, at)
            VALUES (:p, :i, :k, CAST(:d AS jsonb), :at)
            ON CONFLICT (patient_id, item_id) DO UPDATE SET doc = EXCLUDED.doc, at = EXCLUDED.at
        """), {"p": patient, "i": item, "k": kind, "d": json.dumps(doc, default=_iso), "at": at})

    async def _patch(self, conn, patient: UUID, item: UUID, patch: dict, at=None) -> None:
        await conn.execute(text("""
            UPDATE citizen_items SET doc = doc || CAST(:d AS jsonb), at = COALESCE(:at, at)
             WHERE patient_id = :p AND item_id = :i"""),
            {"p": patient, "i": item, "d": json.dumps(patch, default=_iso), "at": at})

    async def apply(self, conn: AsyncConnection, env: Envelope, payload: EventPayload) -> None:
        await self.apply_batch(conn, [(env, payload)])

    async def apply_batch(self, conn: AsyncConnection,
                          events: Sequence[tuple[Envelope, EventPayload]]) -> None:
        for env, p in events:
            if env.patient_id is not None:
                await self._apply(conn, env.patient_id, p)

    async def _apply(self, conn: AsyncConnection, pid: UUID, p: EventPayload) -> None:  # noqa: C901
        match p:
            case j.PatientRegistered():
                await conn.execute(text("""
                    INSERT INTO citizen_people VALUES (:p, :g, :f, :b)
                    ON CONFLICT (patient_id) DO UPDATE SET given = :g, family = :f, birth_date = :b
                """), {"p": pid, "g": p.name.given, "f": p.name.family, "b": p.birth_date})
            case j.PatientDetailsChanged(name=name) if name is not None:
                await conn.execute(text(
                    "UPDATE citizen_people SET given = :g, family = :f WHERE patient_id = :p"),
                    {"p": pid, "g": name.given, "f": name.family})
            case j.NoteDrafted():
                await self._insert(conn, pid, p.note_id, "note", {
                    "note_id": p.note_id, "kind": p.kind, "text": p.text, "author": p.author,
                    "unit": p.unit, "status": "draft", "drafted_at": p.drafted_at},
                    p.drafted_at)
            case j.NoteSigned():
                await self._patch(conn, pid, p.note_id, {"status": "signed",
                                  "signed_by": p.signed_by, "signed_at": p.signed_at},
                                  p.signed_at)
            case j.NoteCorrected():
                await self._patch(conn, pid, p.note_id, {
                    "text": p.text, "corrected_at": p.corrected_at, "author": p.author})
            case j.ObservationRecorded():
                await self._insert(conn, pid, p.observation_id, "observation", {
                    "observation_id": p.observation_id, "code": p.code, "value": p.value,
                    "ucum": p.ucum, "effective_at": p.effective_at, "performer": p.performer,
                    "unit": p.unit}, p.effective_at)
            case j.ObservationCorrected():
                await self._patch(conn, pid, p.observation_id, {"value": p.value})
            case j.ObservationEnteredInError():
                await conn.execute(text("DELETE FROM citizen_items WHERE patient_id = :p AND "
                                        "item_id = :i"), {"p": pid, "i": p.observation_id})
            case j.ConditionRecorded():
                await self._insert(conn, pid, p.condition_id, "condition", {
                    "condition_id": p.condition_id, "system": p.system, "code": p.code,
                    "display": p.display, "onset": p.onset, "status": "active",
                    "by": p.by, "unit": p.unit}, p.recorded_at)
            case j.ConditionResolved():
                await self._patch(conn, pid, p.condition_id, {
                    "status": "resolved", "resolved_on": p.resolved_on})
            case j.CriticalInfoRegistered():
                await self._insert(conn, pid, p.critical_id, "critical", {
                    "critical_id": p.critical_id, "category": p.category,
                    "substance": p.substance, "text": p.text, "reaction": p.reaction,
                    "severity": p.severity, "status": "registered", "unit": p.unit},
                    p.registered_at)
            case j.CriticalInfoVerified() | j.CriticalInfoRefuted() | j.CriticalInfoRemoved():
                await self._patch(conn, pid, p.critical_id, {"status": _STATUS[type(p)]})
            case j.TaskCreated(kind="home_care_visit"):
                await self._insert(conn, pid, p.task_id, "visit", {
                    "task_id": p.task_id, "title": p.title, "unit": p.unit,
                    "assignee": p.assignee, "due_at": p.due_at, "status": "planned"}, p.due_at)
            case j.TaskReassigned():   # only a visit has a row to move
                await self._patch(conn, pid, p.task_id, {
                    "unit": p.unit, "assignee": p.assignee, "due_at": p.due_at}, p.due_at)
            case j.TaskCompleted():
                await self._patch(conn, pid, p.task_id, {"status": "done"})
            case j.TaskCancelled():
                await self._patch(conn, pid, p.task_id, {"status": "cancelled"})
            case j.EntryWithheldFromPatient():
                await conn.execute(text(
                    "INSERT INTO citizen_withheld VALUES (:p, :i) ON CONFLICT DO NOTHING"),
                    {"p": pid, "i": p.entry_id})
            case w.MeasurementReceived(reading=w.Measurement() as m) | \
                    w.QuarantineReleased(reading=w.Measurement() as m):
                for c in m.components:   # the journal's ids: one observation per value
                    oid = uuid5(m.reading_id, c.code)
                    await self._insert(conn, pid, oid, "observation", {
                        "observation_id": oid, "code": c.code, "value": c.value,
                        "ucum": c.ucum, "effective_at": m.effective_at, "performer": None,
                        "device": m.device, "unit": None}, m.effective_at)
            case j.EntryWithholdingLifted():
                await conn.execute(text("DELETE FROM citizen_withheld WHERE patient_id = :p "
                                        "AND entry_id = :i"), {"p": pid, "i": p.entry_id})
