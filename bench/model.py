"""The benchmark's own event, projection and raw (driver-level) equivalents of both.

``Measured`` is a small payload (three fields) in the usual envelope. ``BenchProjection``
keeps one row per event and overrides ``apply_batch`` with one bulk ``INSERT ... unnest`` per
batch, which is what a hand-written consumer would do too; the raw baselines write the same
rows into a table of the same shape with asyncpg.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.events.envelope import Envelope
from libs.events.read_model import Projection
from libs.events.registry import EventPayload, Registry, event

BASE_TOPIC = "bench.events"
NOTE = "blood pressure 128/82, pulse 71, measured sitting"  # a realistic few dozen bytes
EVENTS_PER_STREAM = 10


@event("bench.Measured", topic=BASE_TOPIC)
class Measured(EventPayload):
    seq: int
    value: int
    note: str


ROWS_DDL = """
    CREATE TABLE IF NOT EXISTS bench_rows (
        event_id uuid PRIMARY KEY, stream_id text NOT NULL, stream_version integer NOT NULL,
        seq bigint NOT NULL, value bigint NOT NULL)"""
ROWS_COLUMNS = ("event_id", "stream_id", "stream_version", "seq", "value")


class BenchProjection(Projection):
    """One row per event; the batch is one ``INSERT ... SELECT FROM unnest``."""

    name = "bench_rows"

    def __init__(self, topic: str):
        self.topics = (topic,)

    async def setup(self, conn: AsyncConnection) -> None:
        await conn.execute(text(ROWS_DDL))

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(text("TRUNCATE bench_rows"))

    async def apply(self, conn: AsyncConnection, env: Envelope, payload: EventPayload) -> None:
        await self.apply_batch(conn, [(env, payload)])

    async def apply_batch(self, conn: AsyncConnection,
                          events: Sequence[tuple[Envelope, EventPayload]]) -> None:
        await conn.execute(text("""
            INSERT INTO bench_rows (event_id, stream_id, stream_version, seq, value)
            SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:streams AS text[]),
                                 CAST(:versions AS int[]), CAST(:seqs AS bigint[]),
                                 CAST(:values AS bigint[]))"""), {
            "ids": [e.event_id for e, _ in events],
            "streams": [e.stream_id for e, _ in events],
            "versions": [e.stream_version for e, _ in events],
            "seqs": [p.seq for _, p in events],
            "values": [p.value for _, p in events],
        })


@dataclass(frozen=True)
class Slot:
    """One append of the workload: a stream, the version it is expected at, the payload."""

    stream_id: str
    patient_id: uuid.UUID
    expected: int
    seq: int


def plan(n: int, writers: int) -> list[list[Slot]]:
    """``n`` events over ``n / EVENTS_PER_STREAM`` streams; writer ``w`` owns the streams
    ``k ≡ w (mod writers)`` and appends to them round-robin, so consecutive appends of a writer
    touch different streams and no two writers ever touch the same stream."""
    streams = max(1, n // EVENTS_PER_STREAM)
    patients = [uuid.UUID(int=(0xB3 << 120) | k) for k in range(streams)]
    out: list[list[Slot]] = [[] for _ in range(writers)]
    seq = 0
    for rnd in range(-(-n // streams)):
        for k in range(streams):
            if seq >= n:
                break
            out[k % writers].append(Slot(f"bench-{k}", patients[k], rnd, seq))
            seq += 1
    return out


def payload_of(seq: int) -> Measured:
    return Measured(seq=seq, value=seq * 7 % 1000, note=NOTE)


def raw_envelope(event_id: uuid.UUID, slot: Slot, now: datetime) -> str:
    """The same JSON document ``Envelope.model_dump_json`` produces, built with ``json``."""
    ts = now.isoformat().replace("+00:00", "Z")
    return json.dumps({
        "event_id": str(event_id), "type": Measured.event_type,
        "schema_version": Measured.schema_version, "stream_id": slot.stream_id,
        "stream_version": slot.expected + 1, "patient_id": str(slot.patient_id),
        "occurred_at": ts, "recorded_at": ts,
        "actor": {"kind": "system", "id": "bench", "organisation": None, "unit": None,
                  "role": None},
        "purpose": None, "correlation_id": None, "causation_id": None, "traceparent": None,
        "data": {"seq": slot.seq, "value": slot.seq * 7 % 1000, "note": NOTE},
    }, separators=(",", ":"))


def raw_row(value: bytes | str) -> tuple:
    """A ``bench_rows`` record from wire bytes, with plain ``json`` (the raw consumer's parse)."""
    d = json.loads(value)
    data = d["data"]
    return (uuid.UUID(d["event_id"]), d["stream_id"], d["stream_version"], data["seq"],
            data["value"])


EVENTS = Registry.of(sys.modules[__name__])   # the bench's events, for its stores and runners
