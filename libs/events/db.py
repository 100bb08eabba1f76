"""Database engines. Each service keeps its event store and read models in its own schema; the
engine's ``search_path`` points there, so the same tables and SQL serve every service."""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

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
    10 under 32 clients; bench/RESULTS.md, medication)."""
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


def asyncpg_dsn(database_url: str) -> str:
    """The same server for a raw asyncpg connection (LISTEN/NOTIFY, advisory locks)."""
    return re.sub(r"^postgresql\+asyncpg://", "postgresql://", database_url)
