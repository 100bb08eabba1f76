"""The two event stores behind one fixture, so each contract test is written once and run twice.

The ``backend`` fixture (tests/events/conftest.py) is parametrised ``memory`` / ``postgres``.
Only the PostgreSQL variant asks for the session's database (``engine``, from tests/conftest.py),
so ``-k memory`` runs with no stack at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.events.envelope import Actor, Envelope
from libs.events.memory import InMemoryEventStore, _Row
from libs.events.ports import EventContext, EventStorePort
from libs.events.registry import Registry
from tests.support.bank import EVENTS as BANK
from libs.events.store import EventStore

NURSE = Actor(kind="practitioner", id="HPR-9144889", organisation="974600951")
STORES = ("memory", "postgres")


def ctx(patient: uuid.UUID | None = None, **kw) -> EventContext:
    return EventContext(patient_id=patient or uuid.uuid4(), actor=NURSE, purpose="test", **kw)


@dataclass
class Backend:
    name: str
    store: EventStorePort
    with_registry: Callable[[Registry], EventStorePort]   # a store reading with that registry
    put_raw: Callable[[Envelope], Awaitable[None]]       # an event as an old writer left it


def make_backend(request: pytest.FixtureRequest) -> Backend:
    """For a sync fixture: it may ask for the async ``engine`` fixture by name, when needed."""
    if request.param == "memory":
        store = InMemoryEventStore(BANK)
        return Backend("memory", store, InMemoryEventStore, lambda env: _put_memory(store, env))
    engine: AsyncEngine = request.getfixturevalue("engine")
    return Backend("postgres", EventStore(engine, BANK),
                   lambda reg: EventStore(engine, reg), lambda env: _put_postgres(engine, env))


async def _put_memory(store: InMemoryEventStore, env: Envelope) -> None:
    rows = store._streams.setdefault(env.stream_id, [])
    assert len(rows) + 1 == env.stream_version, "the next version of the stream"
    row = _Row(store._transactions + 1, store._positions + 1, env.stream_version,
               env.recorded_at, env.model_dump_json())
    store._transactions, store._positions = row.transaction_id, row.position
    rows.append(row)
    store._log.append(row)


async def _put_postgres(engine: AsyncEngine, env: Envelope) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("""
            INSERT INTO streams (stream_id, version, patient_id) VALUES (:s, :v, :p)
            ON CONFLICT (stream_id) DO UPDATE SET version = :v"""),
            {"s": env.stream_id, "v": env.stream_version, "p": env.patient_id})
        await conn.execute(text("""
            INSERT INTO events (event_id, stream_id, stream_version, type, schema_version,
                                patient_id, recorded_at, envelope)
            VALUES (:id, :s, :v, :t, :sv, :p, :r, CAST(:env AS jsonb))"""),
            {"id": env.event_id, "s": env.stream_id, "v": env.stream_version, "t": env.type,
             "sv": env.schema_version, "p": env.patient_id, "r": env.recorded_at,
             "env": env.model_dump_json()})
