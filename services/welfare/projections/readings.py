"""``welfare_readings`` (from ``welfare.events``): every reading of a person with its status
(accepted, quarantined, released, discarded), in the order it happened (``effective_at``), and
the tasks and alerts the service raised, with each alert's status, level and due time. A late
reading takes its place in time here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.events.envelope import Envelope
from libs.events.read_model import Projection
from libs.events.registry import EventPayload
from services.welfare import contract as ev

READINGS = "welfare_readings"
# a run of readings is one statement: one per reading (an executemany) was 35,220 statements,
# each a round trip of the API process, in one minute of the welfare benchmark
_INSERT = text("""
    INSERT INTO welfare_readings (reading_id, patient_id, effective_at, received_at, status,
                                  doc)
    SELECT r, p, e, rc, s, d::jsonb
      FROM unnest(CAST(:r AS uuid[]), CAST(:p AS uuid[]), CAST(:e AS timestamptz[]),
                  CAST(:rc AS timestamptz[]), CAST(:s AS text[]), CAST(:d AS text[]))
           AS x(r, p, e, rc, s, d)
    ON CONFLICT (reading_id) DO UPDATE SET status = excluded.status""")
_STATUS = text("UPDATE welfare_readings SET status = :s WHERE reading_id = :r")


class ReadingsProjection(Projection):
    name = READINGS

    def __init__(self, topic: str = "welfare.events"):
        self.topics = (topic,)

    async def setup(self, conn: AsyncConnection) -> None:
        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS welfare_readings (
                reading_id uuid PRIMARY KEY, patient_id uuid NOT NULL,
                effective_at timestamptz NOT NULL, received_at timestamptz NOT NULL,
                status text NOT NULL, doc jsonb NOT NULL)"""))
        await conn.execute(text("""
            CREATE INDEX IF NOT EXISTS welfare_readings_patient
                ON welfare_readings (patient_id, effective_at)"""))
        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS welfare_tasks (
                task_id uuid PRIMARY KEY, patient_id uuid NOT NULL, kind text NOT NULL,
                unit text NOT NULL, due_at timestamptz NOT NULL, doc jsonb NOT NULL)"""))

        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS welfare_alerts (
                alert_id uuid PRIMARY KEY, patient_id uuid NOT NULL, status text NOT NULL,
                level int NOT NULL DEFAULT 0, due_at timestamptz NOT NULL, doc jsonb NOT NULL)"""))
        await conn.execute(text("""
            CREATE INDEX IF NOT EXISTS welfare_alerts_open ON welfare_alerts (due_at)
             WHERE status = 'raised'"""))

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(text("TRUNCATE welfare_readings, welfare_tasks, welfare_alerts"))

    async def apply_batch(self, conn: AsyncConnection,
                          events: Sequence[tuple[Envelope, EventPayload]]) -> None:
        # a run of readings (nearly all of the topic) is one statement
        readings: dict[UUID, tuple] = {}
        for env, p in events:
            if isinstance(p, ev.MeasurementReceived | ev.DeviceEventReceived):
                _add(readings, env.patient_id, p.reading, "accepted")
            elif isinstance(p, ev.ReadingQuarantined):
                _add(readings, env.patient_id, p.reading, "quarantined")
            else:
                await _insert(conn, readings)
                await _apply(conn, env, p)
        await _insert(conn, readings)


async def _apply(conn: AsyncConnection, env: Envelope, p: EventPayload) -> None:
    match p:
        case ev.QuarantineReleased():
            await conn.execute(_STATUS, {"s": "released", "r": p.reading_id})
        case ev.QuarantineDiscarded():
            await conn.execute(_STATUS, {"s": "discarded", "r": p.reading_id})
        case ev.AlertRaised():
            await conn.execute(text("""
                INSERT INTO welfare_alerts (alert_id, patient_id, status, due_at, doc)
                VALUES (:a, :p, 'raised', :d, CAST(:doc AS jsonb))
                ON CONFLICT DO NOTHING"""),
                {"a": p.alert_id, "p": env.patient_id, "d": p.due_at,
                 "doc": p.model_dump_json()})
        case ev.AlertEscalated():
            await conn.execute(text("""
                UPDATE welfare_alerts SET level = :l, due_at = :d
                 WHERE alert_id = :a AND status = 'raised'"""),
                {"a": p.alert_id, "l": p.level, "d": p.due_at})
        case ev.AlertAcknowledged() | ev.AlertResolved():
            status = "resolved" if isinstance(p, ev.AlertResolved) else "acknowledged"
            await conn.execute(text(
                "UPDATE welfare_alerts SET status = :s WHERE alert_id = :a"),
                {"a": p.alert_id, "s": status})
        case ev.TaskCreated():
            await conn.execute(text("""
                INSERT INTO welfare_tasks (task_id, patient_id, kind, unit, due_at, doc)
                VALUES (:t, :p, :k, :u, :d, CAST(:doc AS jsonb))
                ON CONFLICT DO NOTHING"""),
                {"t": p.task_id, "p": env.patient_id, "k": p.kind, "u": p.unit,
                 "d": p.due_at, "doc": p.model_dump_json()})


def _add(readings: dict[UUID, tuple], patient_id: UUID | None, r: ev.AnyReading,
         status: str) -> None:
    """One row per reading in a run: a reading seen twice keeps its first row and takes the
    later status, as one insert per event would (one statement may not touch a row twice)."""
    held = readings.get(r.reading_id)
    if held is not None:
        readings[r.reading_id] = held[:4] + (status,) + held[5:]
    else:
        readings[r.reading_id] = (r.reading_id, patient_id, r.effective_at, r.received_at,
                                  status, r.model_dump_json())


async def _insert(conn: AsyncConnection, readings: dict[UUID, tuple]) -> None:
    if readings:
        columns = [list(c) for c in zip(*readings.values(), strict=True)]
        await conn.execute(_INSERT, dict(zip(("r", "p", "e", "rc", "s", "d"), columns,
                                             strict=True)))
        readings.clear()


class ReadingsReader:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def readings(self, patient_id: UUID, status: str | None = None,
                       limit: int = 100) -> list[dict]:
        """The person's readings, newest first by when they happened."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(text("""
                SELECT doc, status FROM welfare_readings
                 WHERE patient_id = :p AND (CAST(:s AS text) IS NULL OR status = :s)
                 ORDER BY effective_at DESC, reading_id LIMIT :n"""),
                {"p": patient_id, "s": status, "n": limit})).all()
        return [dict(r[0]) | {"status": r[1]} for r in rows]

    async def tasks(self, patient_id: UUID) -> list[dict]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(text("""
                SELECT doc FROM welfare_tasks WHERE patient_id = :p ORDER BY due_at"""),
                {"p": patient_id})).all()
        return [dict(r[0]) for r in rows]

    async def alerts(self, patient_id: UUID) -> list[dict]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(text("""
                SELECT doc, status, level, due_at FROM welfare_alerts WHERE patient_id = :p
                 ORDER BY (status = 'resolved'), doc->>'raised_at' DESC"""),
                {"p": patient_id})).all()
        return [dict(r[0]) | {"status": r[1], "level": r[2], "due_at": r[3].isoformat()}
                for r in rows]

    async def overdue(self, now: datetime, limit: int = 500) -> list[tuple[UUID, UUID, int]]:
        """Alerts nobody has acknowledged past their due time: (patient, alert, level)."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(text("""
                SELECT patient_id, alert_id, level FROM welfare_alerts
                 WHERE status = 'raised' AND due_at < :n ORDER BY due_at LIMIT :l"""),
                {"n": now, "l": limit})).all()
        return [(r[0], r[1], r[2]) for r in rows]
