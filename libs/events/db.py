"""Database engines. Each service keeps its event store and read models in its own schema; the
engine's ``search_path`` points there, so the same tables and SQL serve every service."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from aiokafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.util import greenlet_spawn

_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_schema(schema: str) -> str:
    if not _SCHEMA.match(schema):
        raise ValueError(f"schema name {schema!r} must be lower-case letters, digits and _")
    return schema


def make_engine(database_url: str, schema: str, pool_size: int = 20, max_overflow: int = 10,
                **kw) -> AsyncEngine:
    """The pool opens connections as they are needed, up to ``pool_size`` kept open. Overflow
    connections are closed when returned, so a pool smaller than a service's requests in flight
    opens and closes a connection per request (about 10 % of a medication-list read's CPU with
    10 under 32 clients; bench/RESULTS.md, medication). A service's pool is sized by its
    settings (``db_pool_size``, ``db_max_overflow``)."""
    check_schema(schema)
    return create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        # no pre-ping: it costs a round trip per checkout (measured: -15..50 % append rate);
        # a dead connection surfaces as a transient error that callers retry
        pool_pre_ping=False,
        connect_args={"server_settings": {"search_path": schema, "application_name": f"ehr-{schema}"}},
        **kw,
    )


def is_transient(exc: BaseException) -> bool:
    """Faults of the infrastructure, not of the event: retry instead of dead-lettering. The
    driver's own errors count too where a statement went on the driver's connection."""
    if isinstance(exc, (OSError, asyncio.TimeoutError, ConnectionError, InterfaceError,
                        OperationalError, KafkaError, asyncpg.PostgresConnectionError,
                        asyncpg.exceptions.OperatorInterventionError)):
        return True
    if isinstance(exc, asyncpg.InterfaceError):   # the driver's connection closed under it
        return "closed" in str(exc)
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def asyncpg_dsn(database_url: str) -> str:
    """The same server for a raw asyncpg connection (LISTEN/NOTIFY, advisory locks)."""
    return re.sub(r"^postgresql\+asyncpg://", "postgresql://", database_url)


@asynccontextmanager
async def pooled(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection as the driver's (asyncpg) alone, for statements sent on the driver
    (every read model's read): checked out and given back in one greenlet hop each, without
    the ``AsyncConnection`` around it, which cost as much CPU as the statement it served
    (bench/RESULTS.md). Given back as ``engine.connect()`` gives it back (reset on return),
    but one that died in the block, or that the block left inside a transaction (cancelled in
    it), is dropped instead: the next borrower never meets another's half-done work."""
    fairy = await engine.raw_connection()
    raw = fairy.driver_connection
    try:
        yield raw
    finally:
        spoilt = raw.is_closed() or raw.is_in_transaction()
        await greenlet_spawn(fairy.invalidate if spoilt else fairy.close)


@asynccontextmanager
async def driver_connection(engine: AsyncEngine
                            ) -> AsyncIterator[tuple[AsyncConnection, asyncpg.Connection]]:
    """A pooled connection as the driver's (asyncpg) and, over it, SQLAlchemy's in AUTOCOMMIT
    (it begins and ends nothing of its own). A connection that died in the block is dropped,
    not given back to the pool: SQLAlchemy did not see the driver's error."""
    async with engine.connect() as sa:
        sa = await sa.execution_options(isolation_level="AUTOCOMMIT")
        raw = (await sa.get_raw_connection()).driver_connection
        try:
            yield sa, raw
        except BaseException:
            if raw.is_closed():
                await sa.invalidate()
            raise


@asynccontextmanager
async def driver_transaction(engine: AsyncEngine
                             ) -> AsyncIterator[tuple[AsyncConnection, asyncpg.Connection]]:
    """One transaction, begun and ended on the driver's connection (``driver_connection``): a
    statement on either connection is in it; it commits when the block ends and rolls back if
    it raises. BEGIN, COMMIT and the statements sent on the driver's connection skip
    SQLAlchemy's work per statement (a batch of the projection runner: 620-655 against 382-428
    µs of CPU for BEGIN, one statement and COMMIT; bench/RESULTS.md)."""
    async with driver_connection(engine) as (sa, raw), raw.transaction():
        yield sa, raw


async def driver_of(conn: AsyncConnection) -> asyncpg.Connection:
    """The driver's connection under ``conn``, inside the transaction ``conn`` holds (for a
    projection's statements on the driver). SQLAlchemy sends BEGIN only with its first
    statement, so a transaction not begun yet is begun here: a statement sent on the driver's
    connection before it would commit on its own."""
    raw = (await conn.get_raw_connection()).driver_connection
    if not raw.is_in_transaction() and conn.in_transaction():
        await conn.exec_driver_sql("SELECT 1")
    return raw


async def setup_turn(conn: AsyncConnection) -> None:
    """Wait for this schema's start-up DDL turn, held until ``conn``'s transaction ends.
    Replicas start together (the chart's first install), and two ``CREATE ... IF NOT EXISTS``
    of one table at once fail on a duplicate key in ``pg_type``: every block that creates
    tables or indexes at start-up takes the turn first. Never nest two such blocks."""
    await conn.exec_driver_sql(
        "SELECT pg_advisory_xact_lock(hashtext('ehr.setup.' || current_schema()))")
