"""The welfare service's write side.

- ``Intake``: appends what devices report to ``welfare-<patient_id>`` (no expected version:
  readings are facts, nobody decides against the stream). A batch is one transaction; each
  reading first claims its ``reading_id`` in ``welfare_received``, in the same transaction, so a
  repeat (the same device event id from the same device) appends nothing, and an acknowledged
  reading is committed with its outbox row before the answer. The batch's claims are one
  statement and each person's new readings one append (a flame graph found three round trips
  per reading to be most of the ingest CPU: ``bench/profiles/welfare-ingest-*.svg``). The
  first quarantined reading of a person's technology opens a review for the service owner
  (``welfare_quarantine_open``, closed by the owner's next decision), so a flood of readings
  makes one task, not thousands.
- ``CoverageStore``: the legal bases, one small stream per person, decided under one version.
- ``Intake.decide``: the service owner's decision on a quarantined reading, once.
- ``Intake.alert_step``: an alert's acknowledgement, resolution or escalation, each once
  (``welfare_alert_steps``); an alert acknowledged or resolved never escalates.
- ``Intake.rule_batch``: what the alert rules decided for a batch of readings and the
  windows of its people after it (``welfare_windows``, ``domain/batch.py``), each reading
  recorded once however often the stream processor sees it (``welfare_rules_done``): the
  batch's claims, its people's windows (rows locked in patient id order), its events (one
  append for all its streams, so one NOTIFY) and the windows after, in one transaction, so the
  windows always match the readings decided. ``Intake.rule_outputs``: one output without
  windows (the inactivity sweep's tasks), once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.events.db import pooled, setup_turn
from libs.events.envelope import Actor
from libs.events.ports import EventContext
from libs.events.registry import EventPayload
from libs.events.store import EventStore, StreamAppend
from libs.events.streams import StreamStore
from services.welfare.contract import coverage_stream_of, stream_of
from services.welfare.domain.batch import Decided, Item as RuleItem
from services.welfare.domain.coverage import Coverage, evolve

DDL = (
    """CREATE TABLE IF NOT EXISTS welfare_received (
           reading_id uuid PRIMARY KEY, patient_id uuid NOT NULL,
           received_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE IF NOT EXISTS welfare_quarantine_open (
           patient_id uuid NOT NULL, technology text NOT NULL,
           PRIMARY KEY (patient_id, technology))""",
    """CREATE TABLE IF NOT EXISTS welfare_decided (reading_id uuid PRIMARY KEY)""",
    """CREATE TABLE IF NOT EXISTS welfare_rules_done (reading_id uuid PRIMARY KEY)""",
    """CREATE TABLE IF NOT EXISTS welfare_alert_steps (
           alert_id uuid NOT NULL, step text NOT NULL, PRIMARY KEY (alert_id, step))""",
    # one person's open windows and inactivity watch (ids, times and flags; no values)
    """CREATE TABLE IF NOT EXISTS welfare_windows (
           patient_id uuid PRIMARY KEY, state jsonb NOT NULL,
           updated_at timestamptz NOT NULL DEFAULT now())""",
)
# the ingest's claims (record), on the driver's connection
_CLAIM_RECEIVED = """
    INSERT INTO welfare_received (reading_id, patient_id)
    SELECT * FROM unnest($1::uuid[], $2::uuid[])
    ON CONFLICT DO NOTHING RETURNING reading_id"""
_OPEN_REVIEWS = """
    INSERT INTO welfare_quarantine_open (patient_id, technology)
    SELECT * FROM unnest($1::uuid[], $2::text[])
    ON CONFLICT DO NOTHING RETURNING patient_id, technology"""
# the alert rules' batches (rule_batch), on the driver's connection; people and readings sorted,
# so two workers never lock the same rows in opposite orders
_CLAIM_DONE = "INSERT INTO welfare_rules_done (reading_id) SELECT * FROM unnest($1::uuid[]) " \
    "ON CONFLICT DO NOTHING RETURNING reading_id"
_RELEASE_DONE = "DELETE FROM welfare_rules_done WHERE reading_id = ANY($1::uuid[])"
_NEW_WINDOWS = "INSERT INTO welfare_windows (patient_id, state) SELECT p, '{}'::jsonb " \
    "FROM unnest($1::uuid[]) AS p ON CONFLICT DO NOTHING"
_HELD_WINDOWS = "SELECT patient_id, state::text FROM welfare_windows " \
    "WHERE patient_id = ANY($1::uuid[]) ORDER BY patient_id FOR UPDATE"
_PUT_WINDOWS = """
    UPDATE welfare_windows w SET state = x.s::jsonb, updated_at = now()
      FROM unnest($1::uuid[], $2::text[]) AS x(p, s) WHERE w.patient_id = x.p"""
_STREAM_VERSIONS = "SELECT stream_id, version FROM streams WHERE stream_id = ANY($1::text[]) " \
    "ORDER BY stream_id FOR UPDATE"
# what the rules make of a batch: (the windows as held per person, which items are fresh)
Fold = Callable[[Mapping[UUID, dict | None], Sequence[bool]], Decided]
CLOSED = ("acknowledged", "resolved")


class CoverageStore(StreamStore[Coverage]):
    def __init__(self, store: EventStore):
        super().__init__(store, stream_of=coverage_stream_of, empty=Coverage.empty,
                         evolve=evolve)


@dataclass(frozen=True)
class Item:
    """One reading's events for a person; ``review`` (a technology) when a quarantined reading
    may open the service owner's review, ``review_task`` the events that would open it."""

    patient_id: UUID
    reading_id: UUID
    payloads: Sequence[EventPayload]
    review: str | None = None
    review_task: Sequence[EventPayload] = ()


async def _claim(conn, table: str, **key) -> bool:
    """Insert ``key`` into a claims table; False when it was there already."""
    cols = ", ".join(key)
    marks = ", ".join(f":{k}" for k in key)
    return (await conn.execute(text(
        f"INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING "
        f"RETURNING 1"), key)).first() is not None


class Intake:
    def __init__(self, engine: AsyncEngine, events: EventStore):
        self.engine, self.events = engine, events

    async def _append(self, conn, patient_id: UUID, payloads: Sequence[EventPayload],
                      actor: Actor):
        return await self.events.append_in(
            conn, stream_of(patient_id), None, payloads,
            EventContext(patient_id=patient_id, actor=actor, purpose="care"))

    async def setup(self) -> None:
        async with self.engine.begin() as conn:
            await setup_turn(conn)
            for ddl in DDL:
                await conn.execute(text(ddl))
        await self.events.index_entries("reading_id")
        await self.events.index_entries("alert_id")

    async def record(self, items: Sequence[Item], actor: Actor) -> tuple[list[bool], object]:
        """Append every new reading in one transaction: per item, True when recorded now, False
        when it was recorded before (or earlier in the same batch); and the last append's
        result (for the consistency token), None when nothing was new. One statement claims
        the whole batch, one opens the reviews it needs, and each person's new readings are
        one append (its readings in the order they came). On the driver's connection: SQLAlchemy's
        layer alone was about 9 % of an ingest request's CPU
        (``bench/profiles/welfare-ingest-probe.svg``)."""
        async with pooled(self.engine) as conn:
            async with conn.transaction():
                claimed = {r[0] for r in await conn.fetch(
                    _CLAIM_RECEIVED, [i.reading_id for i in items],
                    [i.patient_id for i in items])}
                done = []
                for item in items:   # a reading twice in one batch: the first one is new
                    done.append(item.reading_id in claimed)
                    claimed.discard(item.reading_id)
                new = [i for i, d in zip(items, done, strict=True) if d]
                reviews = {(i.patient_id, i.review) for i in new if i.review is not None}
                opened = {(r[0], r[1]) for r in await conn.fetch(
                    _OPEN_REVIEWS, [p for p, _ in reviews], [t for _, t in reviews])
                } if reviews else set()
                streams: dict[UUID, list[EventPayload]] = {}
                for item in new:
                    payloads = streams.setdefault(item.patient_id, [])
                    payloads += item.payloads
                    if (item.patient_id, item.review) in opened:   # the first held one opens it
                        opened.discard((item.patient_id, item.review))
                        payloads += item.review_task
                last = None
                for patient_id in sorted(streams):   # the streams' rows locked in one order
                    last = await self.events.append_on(
                        conn, stream_of(patient_id), None, streams[patient_id],
                        EventContext(patient_id=patient_id, actor=actor, purpose="care"))
        return done, last

    async def decide(self, patient_id: UUID, reading_id: UUID, technology: str,
                     payloads: Sequence[EventPayload], actor: Actor):
        """Append the service owner's decision on a quarantined reading (None, and nothing
        appended, when another decision on it came first); the review closes, so the next
        quarantined reading opens a new one."""
        async with self.engine.begin() as conn:
            if not await _claim(conn, "welfare_decided", reading_id=reading_id):
                return None
            await conn.execute(text("""
                DELETE FROM welfare_quarantine_open WHERE patient_id = :p AND technology = :t"""),
                {"p": patient_id, "t": technology})
            return await self._append(conn, patient_id, payloads, actor)

    async def entries(self, patient_id: UUID, reading_id: UUID) -> list[EventPayload]:
        """The events about one reading (received or quarantined, and any decision)."""
        found = await self.events.load_entries(stream_of(patient_id), "reading_id",
                                               [str(reading_id)])
        return [p for _, p in found]

    async def rule_outputs(self, patient_id: UUID, reading_id: UUID,
                           payloads: Sequence[EventPayload], actor: Actor) -> bool:
        """Append the rules' events for a reading unless they were appended before; True when
        appended now."""
        async with self.engine.begin() as conn:
            if not await _claim(conn, "welfare_rules_done", reading_id=reading_id):
                return False
            if payloads:
                await self._append(conn, patient_id, payloads, actor)
            return True

    async def rule_batch(self, items: Sequence[RuleItem], fold: Fold, actor: Actor) -> Decided:
        """Decide a batch of the rules' input and record the outcome in one transaction: the
        claims of its readings (a reading claimed before, or twice in the batch, is not fresh),
        its people's windows locked and read, ``fold`` (pure) over them, the events of every
        person in one append, the windows after. Claims of readings ``fold`` could not decide
        are released, so they are decided again if seen again. A worker killed anywhere in
        between decides the batch again from the windows as they were."""
        people = sorted({i.patient_id for i in items})
        ids = [i.reading_id for i in items]
        async with pooled(self.engine) as conn:
            async with conn.transaction():
                claimed = {r[0] for r in await conn.fetch(
                    _CLAIM_DONE, sorted({r for r in ids if r is not None}))}
                fresh = []
                for reading_id in ids:   # twice in one batch: the first one is fresh
                    fresh.append(reading_id in claimed)
                    claimed.discard(reading_id)
                await conn.execute(_NEW_WINDOWS, people)
                held = {r[0]: json.loads(r[1]) for r in await conn.fetch(_HELD_WINDOWS, people)}
                decided = fold(held, fresh)
                if decided.undecidable:
                    await conn.execute(_RELEASE_DONE, [ids[n] for n in decided.undecidable])
                streams = {stream_of(p): p for p in sorted(decided.outputs)}
                if streams:
                    versions = dict(await conn.fetch(_STREAM_VERSIONS, list(streams)))
                    await self.events.append_streams_in(conn, [
                        StreamAppend(s, versions.get(s, 0), decided.outputs[p],
                                     EventContext(patient_id=p, actor=actor, purpose="care"))
                        for s, p in streams.items()])
                changed = sorted(p for p, w in decided.windows.items() if w != held.get(p))
                if changed:
                    await conn.execute(_PUT_WINDOWS, changed,
                                       [json.dumps(decided.windows[p]) for p in changed])
        return decided

    async def watched(self) -> list[tuple[UUID, dict]]:
        """Everyone whose inactivity is watched, with their windows (the sweep's input)."""
        async with self.engine.connect() as conn:
            return [(r[0], r[1]) for r in await conn.execute(text("""
                SELECT patient_id, state FROM welfare_windows
                 WHERE state->>'inactivity_h' IS NOT NULL"""))]

    async def alert_step(self, patient_id: UUID, alert_id: UUID, step: str,
                         payloads: Sequence[EventPayload], actor: Actor):
        """Append one step of an alert's handling (``acknowledged``, ``resolved``,
        ``escalated-<level>``) unless it was taken before, or, for an escalation, the alert was
        acknowledged or resolved first; None when nothing was appended."""
        async with self.engine.begin() as conn:
            if step.startswith("escalated") and (await conn.execute(text("""
                    SELECT 1 FROM welfare_alert_steps
                     WHERE alert_id = :a AND step = ANY(:closed)"""),
                    {"a": alert_id, "closed": list(CLOSED)})).first() is not None:
                return None
            if not await _claim(conn, "welfare_alert_steps", alert_id=alert_id, step=step):
                return None
            return await self._append(conn, patient_id, payloads, actor)

    async def alert_entries(self, patient_id: UUID, alert_id: UUID) -> list[EventPayload]:
        found = await self.events.load_entries(stream_of(patient_id), "alert_id",
                                               [str(alert_id)])
        return [p for _, p in found]
