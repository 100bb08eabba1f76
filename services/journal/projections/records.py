"""``journal_records``: the journal's read model, projected from ``journal.events``.

One projection (so one transaction per batch, one consistency token) keeps five tables:
- ``journal_records(patient_id, version, doc)``: the patient's folded record (``Patient``) as JSON,
  but its notes; the overview, notes and care-plan reads start here (``RECORD_DOC``);
- ``journal_notes``: one row per note, in the record's order: a note written (drafted, signed,
  corrected) writes its own row, and the record's row only its version, so a note's write
  does not grow with the notes before it (the whole document was rewritten at every note,
  17–34 KB in the journal's benchmark: bench/RESULTS.md). A record written before notes had
  rows of their own (or by a replica of a version before) holds its notes itself: it is read
  as it is, and its notes are moved out at its next write;
- ``journal_observations``: one row per observation (its own fold, ``fold_observation``) with
  its code, effective time and status: a series without bound, kept out of the record's document
  so that a read or write of the record does not grow with it. The overview's latest vital signs
  are one index probe per code;
- ``journal_tasks``: one row per task with its unit, assignee, due time and status, plus the
  patient's name and address for the round; the unit's worklist is a query on it;
- ``journal_fhir(resource_type, id, version_id, …)``: every version of every FHIR resource the
  record exposes, written when an event touches it. FHIR read, search, ``_history``, ``ETag``
  and ``as_of`` all read this table; a version is never updated or deleted.

It also reads ``welfare.events`` (``welfare.py``): welfare technology's tasks and alerts join the
worklist and device measurements the observations, in the same transaction.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.events.db import driver_of
from libs.events.envelope import Envelope
from libs.web.fhir.versions import create_versions_table, write_versions
from services.journal.fhir.types import TYPES
from libs.events.read_model import Projection, uncompressed
from libs.events.registry import EventPayload
from services.journal.contract import PatientDetailsChanged
from services.journal.domain.clinical_state import (
    OBSERVATION_EVENTS, Note, Observation, fold_observation,
)
from services.journal.domain.patients import Patient, evolve
from services.journal.fhir import to_fhir as fhir
from services.journal.projections import welfare

NAME = "journal_records"
FHIR_TABLE = "journal_fhir"
PARSED_CACHE = 5_000
RECORD_DOC = """CASE WHEN r.doc ? 'notes' THEN r.doc ELSE r.doc || jsonb_build_object('notes', (
    SELECT coalesce(jsonb_agg(n.doc ORDER BY n.position), '[]'::jsonb)
      FROM journal_notes n WHERE n.patient_id = r.patient_id)) END"""
"""The whole record (``Patient``'s JSON) of the ``journal_records`` row ``r``: its document with
its notes from their rows (or as it holds them, written before they had rows)."""
APART = {"notes"}   # (a set: what pydantic excludes)


def _held_sql(held: str) -> str:
    """The batch's records, each locked, with the document only where the version and time
    this process holds parsed (``held``: ``h(p, v, u)``) are not the stored ones."""
    return f"""
        SELECT r.patient_id, r.version, r.updated_at,
               CASE WHEN (r.version, r.updated_at) = (h.v, h.u) THEN NULL
                    ELSE ({RECORD_DOC})::text END,
               CASE WHEN (r.version, r.updated_at) = (h.v, h.u) THEN false
                    ELSE r.doc ? 'notes' END
          FROM journal_records r
          JOIN {held} AS h(p, v, u) ON h.p = r.patient_id
           FOR UPDATE OF r"""


HELD_MANY = _held_sql("unnest($1::uuid[], $2::int[], $3::timestamptz[])")
HELD_ONE = _held_sql("(VALUES ($1::uuid, $2::int, $3::timestamptz))")
"""A batch of one patient's events (most, unless the journal is busy) reads its record with
values, not arrays: PostgreSQL costs a generic plan for an ``unnest`` of array parameters as
a hundred rows, so it planned the statement again for every batch (249 µs of its CPU against
75 of execution, bench/RESULTS.md); with one row of values it keeps its plan."""
BESIDE_NOTES = tuple(f for f in Patient.model_fields if f not in APART)


class JournalRecordsProjection(Projection):
    name = NAME

    def __init__(self, topic: str = "journal.events",
                 welfare_topic: str | None = "welfare.events", cache_size: int = PARSED_CACHE):
        self.topics = (topic,) + ((welfare_topic,) if welfare_topic else ())
        # the records this process last wrote, parsed, by (version, time of the last event): a
        # row still at that version is not parsed again; one another replica wrote, or a batch
        # that was rolled back, has another version (or last event) and is parsed as before
        self._parsed: OrderedDict[UUID, tuple[int, datetime, Patient]] = OrderedDict()
        self._cache_size = cache_size

    def _patient(self, patient_id: UUID, doc: str | None) -> Patient:
        """The record as read: ``None`` when PostgreSQL found it at the version and time this
        process holds it parsed at (``_apply_journal``), else its document."""
        return self._parsed[patient_id][2] if doc is None else Patient.model_validate_json(doc)

    def _remember(self, state: dict) -> None:
        for patient_id, (version, updated_at, p) in state.items():
            self._parsed[patient_id] = (version, updated_at, p)
            self._parsed.move_to_end(patient_id)
        while len(self._parsed) > self._cache_size:
            self._parsed.popitem(last=False)

    async def setup(self, conn: AsyncConnection) -> None:
        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS journal_records (
                patient_id uuid PRIMARY KEY, version integer NOT NULL,
                updated_at timestamptz NOT NULL, doc jsonb NOT NULL)"""))
        await uncompressed(conn, "journal_records", "doc")   # rewritten at every write
        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS journal_tasks (
                task_id uuid PRIMARY KEY, patient_id uuid NOT NULL, unit text NOT NULL,
                assignee text, due_at timestamptz NOT NULL, status text NOT NULL,
                doc jsonb NOT NULL)"""))
        await conn.execute(text("""
            CREATE INDEX IF NOT EXISTS journal_tasks_worklist
                ON journal_tasks (unit, due_at) WHERE status = 'requested'"""))
        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS journal_observations (
                observation_id uuid PRIMARY KEY, patient_id uuid NOT NULL, code text NOT NULL,
                effective_at timestamptz NOT NULL, status text NOT NULL, doc jsonb NOT NULL)"""))
        await conn.execute(text("""
            CREATE INDEX IF NOT EXISTS journal_observations_latest
                ON journal_observations (patient_id, code, effective_at DESC)
             WHERE status <> 'entered_in_error'"""))
        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS journal_notes (
                note_id uuid PRIMARY KEY, patient_id uuid NOT NULL, position integer NOT NULL,
                doc jsonb NOT NULL)"""))
        await conn.execute(text("""
            CREATE INDEX IF NOT EXISTS journal_notes_record
                ON journal_notes (patient_id, position)"""))
        await create_versions_table(conn, FHIR_TABLE, TYPES)
        for ddl in welfare.SETUP:
            await conn.execute(text(ddl))

    async def reset(self, conn: AsyncConnection) -> None:
        self._parsed.clear()
        await conn.execute(text("TRUNCATE journal_records, journal_notes, journal_tasks, "
                                "journal_observations, journal_fhir"))

    async def apply_batch(self, conn: AsyncConnection,
                          events: Sequence[tuple[Envelope, EventPayload]]) -> None:
        mine = [(env, p) for env, p in events if env.patient_id is not None]
        welfare_events = [(env, p) for env, p in mine if welfare.is_welfare(p)]
        mine = [(env, p) for env, p in mine if not welfare.is_welfare(p)]
        if mine:
            await self._apply_journal(conn, mine)
        if welfare_events:
            folded = await welfare.fold_welfare(conn, welfare_events, patient_label)
            raw = await driver_of(conn)
            await _upsert_tasks(raw, folded.tasks)
            await _write_observations(raw, folded.observations)
            await write_versions(conn, FHIR_TABLE, folded.fhir, TYPES)

    async def _apply_journal(self, conn: AsyncConnection,
                             mine: Sequence[tuple[Envelope, EventPayload]]) -> None:
        patients = list({env.patient_id for env, _ in mine})
        raw = await driver_of(conn)   # the hot statements on the driver, in the transaction
        held = [self._parsed.get(p, (None, None))[:2] for p in patients]
        # a record this process holds parsed at the stored version and time is not sent
        if len(patients) == 1:
            rows = await raw.fetch(HELD_ONE, patients[0], *held[0])
        else:
            rows = await raw.fetch(HELD_MANY, patients, [h[0] for h in held],
                                   [h[1] for h in held])
        state: dict[UUID, tuple[int, datetime | None, Patient]] = {
            r[0]: (r[1], r[2], self._patient(r[0], r[3])) for r in rows}
        # the records whose document is written (new ones, those changed beside their notes,
        # those still holding their notes); the others' rows get their version only
        rewrite = {p for p in patients if p not in state} | {r[0] for r in rows if r[4]}
        notes: dict[UUID, tuple[UUID, int, Note]] = {
            n.note_id: (pid, i, n) for pid in rewrite if pid in state
            for i, n in enumerate(state[pid][2].notes)}
        observations = await _observations(raw, [p.observation_id for _, p in mine
                                                 if isinstance(p, OBSERVATION_EVENTS)])
        changed: list[tuple] = []   # (type, id, patient, recorded_at, resource) per event
        touched_tasks: set[tuple[UUID, UUID]] = set()
        for env, payload in mine:
            n, _, before = state.get(env.patient_id,
                                     (0, None, Patient.unknown(env.patient_id)))
            p = evolve(before, payload)
            state[env.patient_id] = (n + 1, env.recorded_at, p)
            if p.notes is not before.notes:
                notes.update(_changed_notes(env.patient_id, before.notes, p.notes))
            if any(getattr(p, f) is not getattr(before, f) for f in BESIDE_NOTES):
                rewrite.add(env.patient_id)
            if isinstance(payload, OBSERVATION_EVENTS):
                held = observations.get(payload.observation_id)
                o = fold_observation(held[1] if held else None, payload)
                if o is not None and p.registered:
                    observations[o.observation_id] = (env.patient_id, o)
                    changed.append(("Observation", str(o.observation_id), env.patient_id,
                                    env.recorded_at, fhir.observation(p, o)))
                continue
            for rtype, rid in fhir.touched(p, payload):
                doc = fhir.resource(p, rtype, str(rid))
                if doc is None:
                    continue
                changed.append((rtype, str(rid), env.patient_id, env.recorded_at, doc))
                if rtype == "Task":
                    touched_tasks.add((env.patient_id, UUID(str(rid))))
            if isinstance(payload, PatientDetailsChanged):   # new name or address on the round
                touched_tasks |= {(env.patient_id, t.task_id) for t in p.tasks
                                  if t.status == "requested"}
        await _write_records(raw, state, rewrite)
        await _write_notes(raw, notes)
        await write_versions(conn, FHIR_TABLE, changed, TYPES)
        await _write_tasks(raw, state, touched_tasks)
        await _write_observations(raw, observations)
        self._remember(state)


def _changed_notes(patient_id: UUID, before: tuple[Note, ...], after: tuple[Note, ...]):
    """The notes an event changed or added, by id: (patient, position, note). A note keeps its
    place (a re-drafted one is replaced where it was), so an unchanged note is the same object
    at the same position."""
    for i, n in enumerate(after):
        if i >= len(before) or n is not before[i]:
            yield n.note_id, (patient_id, i, n)


async def _write_records(raw: asyncpg.Connection, state: dict, rewrite: set[UUID]) -> None:
    """The records' rows: the document (without its notes) of those in ``rewrite``, the version
    and time of the others (their document is as it was: PostgreSQL keeps it where it is)."""
    whole = [(pid, s) for pid, s in state.items() if pid in rewrite]
    if whole:
        await raw.execute("""
            INSERT INTO journal_records (patient_id, version, updated_at, doc)
            SELECT p, v, u, d::jsonb FROM unnest($1::uuid[], $2::int[], $3::timestamptz[],
                                                 $4::text[]) AS x(p, v, u, d)
            ON CONFLICT (patient_id) DO UPDATE
               SET version = excluded.version, updated_at = excluded.updated_at,
                   doc = excluded.doc""",
            [w[0] for w in whole], [w[1][0] for w in whole], [w[1][1] for w in whole],
            [w[1][2].model_dump_json(exclude=APART) for w in whole])
    moved = [(pid, s) for pid, s in state.items() if pid not in rewrite]
    if moved:
        await raw.execute("""
            UPDATE journal_records r SET version = x.v, updated_at = x.u
              FROM unnest($1::uuid[], $2::int[], $3::timestamptz[]) AS x(p, v, u)
             WHERE r.patient_id = x.p""",
            [m[0] for m in moved], [m[1][0] for m in moved], [m[1][1] for m in moved])


async def _write_notes(raw: asyncpg.Connection, notes: dict) -> None:
    if not notes:
        return
    await raw.execute("""
        INSERT INTO journal_notes (note_id, patient_id, position, doc)
        SELECT n, p, i, d::jsonb
          FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[]) AS x(n, p, i, d)
        ON CONFLICT (note_id) DO UPDATE SET position = excluded.position, doc = excluded.doc""",
        list(notes), [v[0] for v in notes.values()], [v[1] for v in notes.values()],
        [v[2].model_dump_json() for v in notes.values()])


async def _observations(raw: asyncpg.Connection, ids: list[UUID]) -> dict:
    """The stored observations among ``ids``, by id: (patient, observation)."""
    if not ids:
        return {}
    rows = await raw.fetch(
        "SELECT observation_id, patient_id, doc::text FROM journal_observations "
        "WHERE observation_id = ANY($1::uuid[]) FOR UPDATE", list(set(ids)))
    return {r[0]: (r[1], Observation.model_validate_json(r[2])) for r in rows}


async def _write_observations(raw: asyncpg.Connection, observations: dict) -> None:
    if not observations:
        return
    rows = [(oid, pid, o.code, o.effective_at, o.status, o.model_dump_json())
            for oid, (pid, o) in observations.items()]
    cols = list(zip(*rows, strict=True))
    await raw.execute("""
        INSERT INTO journal_observations (observation_id, patient_id, code, effective_at,
                                          status, doc)
        SELECT a, b, c, d, e, f::jsonb
          FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::text[],
                      $6::text[]) AS x(a, b, c, d, e, f)
        ON CONFLICT (observation_id) DO UPDATE
           SET status = excluded.status, doc = excluded.doc""", *map(list, cols))


async def _write_tasks(raw: asyncpg.Connection, state: dict,
                       touched: set[tuple[UUID, UUID]]) -> None:
    """Upsert the worklist rows of the tasks this batch changed, with the patient's name and
    address as they are now (a renamed patient's open tasks show the new name)."""
    rows = []
    for patient_id, task_id in touched:
        p: Patient = state[patient_id][2]
        task = next((t for t in p.tasks if t.task_id == task_id), None)
        if task is None:
            continue
        doc = task.model_dump(mode="json") | {"patient_id": str(patient_id),
                                              "patient": patient_label(p)}
        rows.append((task_id, patient_id, task.unit, task.assignee, task.due_at, task.status,
                     json.dumps(doc)))
    await _upsert_tasks(raw, rows)


async def _upsert_tasks(raw: asyncpg.Connection, rows: list[tuple]) -> None:
    """Upsert worklist rows: (task, patient, unit, assignee, due, status, doc as JSON)."""
    if not rows:
        return
    cols = list(zip(*rows, strict=True))
    await raw.execute("""
        INSERT INTO journal_tasks (task_id, patient_id, unit, assignee, due_at, status, doc)
        SELECT a, b, c, d, e, f, g::jsonb
          FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[],
                      $6::text[], $7::text[]) AS x(a, b, c, d, e, f, g)
        ON CONFLICT (task_id) DO UPDATE
           SET unit = excluded.unit, assignee = excluded.assignee, due_at = excluded.due_at,
               status = excluded.status, doc = excluded.doc""", *map(list, cols))


def patient_label(p: Patient) -> dict:
    """What a worklist shows about the patient: name, birth date and address, never the id
    number."""
    return {"name": f"{p.name.given} {p.name.family}" if p.name else None,
            "birth_date": p.birth_date.isoformat() if p.birth_date else None,
            "address": p.address.model_dump(mode="json") if p.address else None}
