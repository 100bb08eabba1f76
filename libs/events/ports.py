"""What the write side needs from an event store, and the values that cross that boundary.

Two stores implement it: :class:`libs.events.store.EventStore` (PostgreSQL, the real one) and
:class:`libs.events.memory.InMemoryEventStore` (for tests that should not need a stack). One
contract suite (``tests/events/test_store_contract.py``) runs against both, so a handler test on
the in-memory store means what it would mean on PostgreSQL. Both build their envelopes here, so
the two cannot drift on what an event carries. Nothing in this module does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from opentelemetry import propagate

from libs.events.consistency import ConsistencyToken
from libs.events.envelope import SYSTEM, Actor, Envelope, new_event_id
from libs.events.registry import EventPayload, Registry


class ConcurrencyError(Exception):
    """The stream is not at the expected version: someone else changed it first."""

    def __init__(self, stream_id: str, expected: int | None, actual: int):
        self.stream_id, self.expected, self.actual = stream_id, expected, actual
        super().__init__(f"stream {stream_id} is at version {actual}, not {expected}")


@dataclass(frozen=True)
class EventContext:
    """What every event of one command shares: the patient, who acted, and why."""

    patient_id: UUID | None
    actor: Actor = SYSTEM
    purpose: str | None = None
    correlation_id: UUID | None = None
    causation_id: UUID | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class AppendResult:
    stream_id: str
    version: int
    envelopes: tuple[Envelope, ...]
    positions: tuple[int, ...]

    @property
    def token(self) -> ConsistencyToken:
        return ConsistencyToken(self.envelopes[-1].event_id)


@dataclass(frozen=True)
class StoredEvent:
    position: int
    envelope: Envelope


@dataclass(frozen=True, order=True)
class CommitPosition:
    """A point in the store's global commit order."""

    transaction_id: int
    position: int

    def __str__(self) -> str:
        return f"{self.transaction_id}:{self.position}"


@dataclass(frozen=True)
class Snapshot:
    """A stream's folded state at ``version``, as JSON, for a state shape ``schema`` (a
    fingerprint of the state's model and fold: a snapshot of another shape is never used)."""

    stream_id: str
    version: int
    schema: str
    doc: str


def data_field(name: str) -> str:
    """A field of an event's data that a store may look entries up by, checked: PostgreSQL puts
    it into SQL text (an expression index must see it literally)."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"not an event data field name: {name!r}")
    return name


def check_append(payloads: Sequence[EventPayload], expected: int | None) -> None:
    if not payloads:
        raise ValueError("append needs at least one event")
    if expected is not None and expected < 0:
        raise ValueError("expected_version is 0 (new stream), a positive version, or None")


def claims_table(name: str) -> str:
    """A claims table's name, checked: PostgreSQL puts it into SQL text, so both stores accept
    only plain (optionally schema-qualified) lower-case names."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?", name):
        raise ValueError(f"not a claims table name: {name!r}")
    return name


def trace_carrier() -> dict[str, str]:
    """The write's trace context (the request's span): the relay's publish continues it."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def build_envelopes(stream_id: str, base: int, payloads: Sequence[EventPayload],
                    ctx: EventContext, now: datetime,
                    traceparent: str | None) -> tuple[Envelope, ...]:
    """The envelopes of one append to ``stream_id`` at version ``base``, recorded at ``now``."""
    return tuple(
        Envelope(
            event_id=new_event_id(),
            type=p.event_type,
            schema_version=p.schema_version,
            stream_id=stream_id,
            stream_version=base + 1 + i,
            patient_id=ctx.patient_id,
            occurred_at=ctx.occurred_at or now,
            recorded_at=now,
            actor=ctx.actor,
            purpose=ctx.purpose,
            correlation_id=ctx.correlation_id,
            causation_id=ctx.causation_id,
            traceparent=traceparent,
            data=p.model_dump(mode="json"),
        )
        for i, p in enumerate(payloads)
    )


class EventStorePort(Protocol):
    """What :class:`libs.events.streams.StreamStore` and the services' handlers use of a store.

    ``expected_version`` 0 creates the stream, ``None`` appends at whatever version it has. A
    claims table holds unique keys (a national id number), each owned by one stream's patient,
    and an owner holds one key: ``append_claiming`` claims and appends all or nothing.
    """

    registry: Registry

    async def append(self, stream_id: str, expected_version: int | None,
                     payloads: Sequence[EventPayload], ctx: EventContext) -> AppendResult: ...

    async def version(self, stream_id: str) -> int: ...

    async def load(self, stream_id: str, after_version: int = 0,
                   up_to_version: int | None = None) -> list[tuple[Envelope, EventPayload]]: ...

    async def load_until(self, stream_id: str,
                         as_of: datetime | None = None) -> list[tuple[Envelope, EventPayload]]: ...

    async def read_all(self, after: CommitPosition | None = None, limit: int = 1000,
                       ) -> tuple[list[StoredEvent], CommitPosition | None]: ...

    async def create_claims(self, table: str) -> None: ...

    async def append_claiming(self, table: str, key: str, owner: UUID, stream_id: str,
                              expected_version: int | None, payloads: Sequence[EventPayload],
                              ctx: EventContext) -> AppendResult | None: ...

    async def owner_of(self, table: str, key: str) -> UUID | None: ...

    async def load_newest(self, stream_id: str, limit: int, before_version: int | None = None,
                          as_of: datetime | None = None) -> list[Envelope]: ...

    async def load_entries(self, stream_id: str, field: str, values: Sequence[str],
                           ) -> list[tuple[Envelope, EventPayload]]: ...

    async def save_snapshot(self, snapshot: Snapshot) -> None: ...

    async def load_snapshot(self, stream_id: str, schema: str) -> Snapshot | None: ...
