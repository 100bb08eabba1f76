"""An event store in memory, for tests that should not need PostgreSQL or Kafka.

It keeps :class:`libs.events.store.EventStore`'s contract (``tests/events/test_store_contract.py``
runs the same suite against both): optimistic concurrency by expected version with the same
``ConcurrencyError``, envelopes built by the same code, events read back through the registry
(so upcasting and a payload that does not survive JSON show up here too), load by recorded time,
commit order, and claims of unique keys that are all or nothing with their append.

Each method yields to the event loop once before it acts, as a real store does while the
database answers, so concurrent commands in a test interleave as they would in production; the
act itself never awaits, so it is atomic. There is no outbox and nothing is published.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from libs.events.envelope import Envelope, utcnow
from libs.events.ports import (AppendResult, CommitPosition, ConcurrencyError, EventContext,
                               Snapshot, StoredEvent, build_envelopes, check_append,
                               claims_table, data_field, trace_carrier)
from libs.events.registry import EventPayload, Registry


@dataclass(frozen=True)
class _Row:
    transaction_id: int
    position: int
    stream_version: int
    recorded_at: datetime
    envelope: str   # as JSON, like the events table: read back through the registry


@dataclass
class _Claims:
    owners: dict[str, UUID] = field(default_factory=dict)      # key -> owner
    keys: dict[UUID, str] = field(default_factory=dict)        # owner -> key (one each)


class InMemoryEventStore:
    def __init__(self, registry: Registry):
        self.registry = registry
        self._streams: dict[str, list[_Row]] = {}
        self._log: list[_Row] = []                 # every event, in commit order
        self._claims: dict[str, _Claims] = {}
        self._snapshots: dict[str, Snapshot] = {}
        self._transactions = 0
        self._positions = 0

    # --- writing -------------------------------------------------------------------------------

    async def append(self, stream_id: str, expected_version: int | None,
                     payloads: Sequence[EventPayload], ctx: EventContext) -> AppendResult:
        """Append events to a stream. ``expected_version`` 0 creates the stream; ``None`` appends
        at whatever version the stream has."""
        check_append(payloads, expected_version)
        await asyncio.sleep(0)
        return self._append(stream_id, expected_version, payloads, ctx)

    async def append_claiming(self, table: str, key: str, owner: UUID, stream_id: str,
                              expected_version: int | None, payloads: Sequence[EventPayload],
                              ctx: EventContext) -> AppendResult | None:
        """Claim ``key`` for ``owner`` and append, all or nothing: ``None``, and nothing
        appended, when the key (or the owner) already has a claim."""
        check_append(payloads, expected_version)
        await asyncio.sleep(0)
        claims = self._table(table)
        if key in claims.owners or owner in claims.keys:
            return None
        result = self._append(stream_id, expected_version, payloads, ctx)  # may raise: no claim
        claims.owners[key], claims.keys[owner] = owner, key
        return result

    async def create_claims(self, table: str) -> None:
        await asyncio.sleep(0)
        self._claims.setdefault(claims_table(table), _Claims())

    def _append(self, stream_id: str, expected: int | None, payloads: Sequence[EventPayload],
                ctx: EventContext) -> AppendResult:
        rows = self._streams.get(stream_id, [])
        actual = len(rows)
        if expected is not None and expected != actual:
            raise ConcurrencyError(stream_id, expected, actual)
        carrier = trace_carrier()
        now = utcnow()
        envelopes = build_envelopes(stream_id, actual, payloads, ctx, now,
                                    carrier.get("traceparent"))
        self._transactions += 1
        for env in envelopes:
            self._positions += 1
            row = _Row(self._transactions, self._positions, env.stream_version, now,
                       env.model_dump_json())
            rows.append(row)
            self._log.append(row)
        self._streams[stream_id] = rows
        return AppendResult(stream_id, actual + len(envelopes), envelopes,
                            tuple(r.position for r in rows[actual:]))

    # --- reading -------------------------------------------------------------------------------

    async def version(self, stream_id: str) -> int:
        await asyncio.sleep(0)
        return len(self._streams.get(stream_id, ()))

    async def load(self, stream_id: str, after_version: int = 0,
                   up_to_version: int | None = None) -> list[tuple[Envelope, EventPayload]]:
        """The stream's events in order, each upcast to the current schema version."""
        await asyncio.sleep(0)
        return [self.registry.decode(r.envelope) for r in self._streams.get(stream_id, ())
                if r.stream_version > after_version
                and (up_to_version is None or r.stream_version <= up_to_version)]

    async def load_until(self, stream_id: str, as_of: datetime | None = None,
                         ) -> list[tuple[Envelope, EventPayload]]:
        """The stream from its start, up to ``as_of`` (recorded time, inclusive) when given."""
        await asyncio.sleep(0)
        return [self.registry.decode(r.envelope) for r in self._streams.get(stream_id, ())
                if as_of is None or r.recorded_at <= as_of]

    async def read_all(self, after: CommitPosition | None = None,
                       limit: int = 1000) -> tuple[list[StoredEvent], CommitPosition | None]:
        """Events in commit order after ``after`` (every append is committed when it returns)."""
        await asyncio.sleep(0)
        after = after or CommitPosition(0, 0)
        rows = [r for r in self._log
                if CommitPosition(r.transaction_id, r.position) > after][:limit]
        if not rows:
            return [], None
        return ([StoredEvent(r.position, Envelope.model_validate_json(r.envelope)) for r in rows],
                CommitPosition(rows[-1].transaction_id, rows[-1].position))

    async def load_newest(self, stream_id: str, limit: int, before_version: int | None = None,
                          as_of: datetime | None = None) -> list[Envelope]:
        """At most ``limit`` envelopes, newest first, below ``before_version``, by ``as_of``."""
        await asyncio.sleep(0)
        rows = [r for r in reversed(self._streams.get(stream_id, ()))
                if (before_version is None or r.stream_version < before_version)
                and (as_of is None or r.recorded_at <= as_of)]
        return [Envelope.model_validate_json(r.envelope) for r in rows[:limit]]

    async def load_entries(self, stream_id: str, field: str, values: Sequence[str],
                           ) -> list[tuple[Envelope, EventPayload]]:
        """The stream's events whose data ``field`` is one of ``values``, in order."""
        await asyncio.sleep(0)
        name, wanted = data_field(field), {str(v) for v in values}
        decoded = (self.registry.decode(r.envelope) for r in self._streams.get(stream_id, ()))
        return [(env, p) for env, p in decoded if str(env.data.get(name)) in wanted]

    async def index_entries(self, field: str) -> None:
        await asyncio.sleep(0)
        data_field(field)

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        await asyncio.sleep(0)
        old = self._snapshots.get(snapshot.stream_id)
        if old is None or old.version < snapshot.version or old.schema != snapshot.schema:
            self._snapshots[snapshot.stream_id] = snapshot

    async def load_snapshot(self, stream_id: str, schema: str) -> Snapshot | None:
        await asyncio.sleep(0)
        found = self._snapshots.get(stream_id)
        return found if found is not None and found.schema == schema else None

    async def owner_of(self, table: str, key: str) -> UUID | None:
        await asyncio.sleep(0)
        return self._table(table).owners.get(key)

    def _table(self, table: str) -> _Claims:
        try:
            return self._claims[claims_table(table)]
        except KeyError:
            raise LookupError(f"no claims table {table!r}: create_claims first") from None
