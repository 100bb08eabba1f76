"""What a read model is: a name, the topics it reads, and how it sets up, resets and applies
events (``libs/events/projection.py`` runs it exactly once per event). Services' projections
subclass it; their manifests list them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.events.envelope import Envelope
from libs.events.registry import EventPayload


class Projection:
    """A read model. Subclasses set ``name`` and ``topics`` and implement ``setup``, ``reset``
    and ``apply`` (or ``apply_batch`` when a bulk statement is faster), and ``wants`` when
    their topics carry many events they leave alone."""

    name: str
    topics: tuple[str, ...]
    # how long the read model may wait for more events before it applies a batch: 0 applies
    # what each fetch brings at once; one no request waits on (consent's access log) gathers
    # fuller batches, so fewer fetches and transactions carry the same events
    gather_ms: int = 0
    # True when applying an event a second time changes nothing, by the read model's own keys
    # (every row keyed by the event, ``ON CONFLICT DO NOTHING``): the runner then stores only
    # its positions, not the id of every event (``projection_events``, one row per event for
    # ever: for the access log one per request served). Such a read model cannot be waited
    # for by a consistency token (``is_applied`` reads those ids); none waits on the logs.
    idempotent: bool = False

    async def setup(self, conn: AsyncConnection) -> None:  # create tables if missing
        raise NotImplementedError

    async def reset(self, conn: AsyncConnection) -> None:  # empty the read model
        raise NotImplementedError

    async def apply(self, conn: AsyncConnection, env: Envelope, payload: EventPayload) -> None:
        raise NotImplementedError

    def wants(self, env: Envelope, payload: EventPayload) -> bool:
        """Whether applying the event could change the read model. A batch of events none of
        which it wants is recorded as applied without applying it (``projection.py``), so
        say False only where ``apply_batch`` would do nothing. Every event, by default."""
        return True

    async def apply_batch(self, conn: AsyncConnection,
                          events: Sequence[tuple[Envelope, EventPayload]]) -> None:
        for env, payload in events:
            await self.apply(conn, env, payload)


_STORAGE = """SELECT a.attname FROM pg_attribute a
 WHERE a.attrelid = to_regclass(:t) AND a.attname = ANY(:c) AND a.attstorage <> 'e'"""


async def uncompressed(conn: AsyncConnection, table: str, *columns: str) -> None:
    """Store ``columns`` of ``table`` out of line without compression (``STORAGE EXTERNAL``),
    for a read model's document that is rewritten at every write and read at every request
    (a patient's record, their medication list): PostgreSQL's built-in compression (pglz; the
    server this project starts has no lz4) cost ~150 µs of the server's CPU a write of a 12 KB
    document (``python -m bench.doc_storage``: 235–300 against 90–115 µs a row; reads within
    the spread), for a third of the space. A read model is rebuilt from the topics, so it
    trades disk for CPU; the event store keeps the default.
    Rows written before keep their form until they are written again. A column already so is
    left alone: no ALTER TABLE at every start."""
    pending = (await conn.execute(text(_STORAGE), {"t": table, "c": list(columns)})).scalars()
    for column in pending.all():
        await conn.execute(text(f'ALTER TABLE {table} ALTER COLUMN "{column}" '
                                "SET STORAGE EXTERNAL"))
