"""How PostgreSQL planned a prepared statement on one connection, for the tests of statements
that must keep their plan: a statement whose generic plan PostgreSQL costs above its custom
ones (an array parameter is costed as ten values, an ``unnest`` of one as a hundred rows) is
planned again at every call (bench/RESULTS.md, "What PostgreSQL plans again at every call")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine

from libs.events.db import make_engine, pooled

CUSTOM_AT_MOST = 5   # PostgreSQL plans the first five calls for their values, then chooses


@asynccontextmanager
async def one_connection(database_url: str, schema: str) -> AsyncIterator[AsyncEngine]:
    """An engine of one pooled connection: every statement sent through it is prepared there."""
    engine = make_engine(database_url, schema, pool_size=1, max_overflow=0)
    try:
        yield engine
    finally:
        await engine.dispose()


async def assert_plan_kept(engine: AsyncEngine, statement: str, calls: int) -> None:
    """``statement`` ran ``calls`` times on ``engine``'s one connection and was planned for
    each of the first five calls at most, then never again."""
    async with pooled(engine) as conn:
        plans = await conn.fetchrow(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement = $1", statement)
    assert plans is not None, "the statement was not prepared on this connection"
    assert plans["custom_plans"] <= CUSTOM_AT_MOST, dict(plans)
    assert plans["generic_plans"] == calls - plans["custom_plans"], dict(plans)
