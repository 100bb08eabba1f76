"""Replicas of a service starting at once on a new database (the chart's first install: two API
pods, two relays, two projection pods, and the migration job): each migrates the schema and
prepares its read models as it starts, and none of them may fail for meeting the others."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from libs.events.db import make_engine
from libs.events.migrations import run_migrations
from libs.events.projection import ProjectionRunner
from libs.events.store import EventStore
from tests.support.bank import EVENTS as BANK_EVENTS
from tests.support.bank import BalanceProjection

REPLICAS = 6


async def test_replicas_migrate_a_new_schema_at_once_and_find_it_at_head(database_url, unique):
    name = f"t_{unique}_m"
    await asyncio.gather(*(run_migrations(database_url, name) for _ in range(REPLICAS)))
    eng = make_engine(database_url, name)
    try:
        async with eng.connect() as conn:
            heads = (await conn.execute(text(
                "SELECT count(*) FROM alembic_version_events"))).scalar_one()
            tables = (await conn.execute(text(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = :s "
                "AND table_name IN ('events', 'outbox', 'streams')"), {"s": name})).scalar_one()
        assert (heads, tables) == (1, 3)
    finally:
        await eng.dispose()


async def test_replicas_prepare_the_same_read_model_at_once(database_url, unique):
    name = f"t_{unique}_p"
    await run_migrations(database_url, name)
    engines = [make_engine(database_url, name, pool_size=1) for _ in range(REPLICAS)]
    try:
        for _ in range(3):   # a new table each round: the race is at its creation
            async with engines[0].begin() as conn:
                await conn.execute(text("DROP TABLE IF EXISTS bank_balances"))
            await asyncio.gather(*(ProjectionRunner(BalanceProjection(), e, "unused:9092",
                                                    registry=BANK_EVENTS).prepare()
                                   for e in engines))
            async with engines[0].connect() as conn:
                assert (await conn.execute(text(
                    "SELECT count(*) FROM bank_balances"))).scalar_one() == 0
    finally:
        for e in engines:
            await e.dispose()


async def test_replicas_create_a_stores_own_tables_and_indexes_at_once(database_url, unique):
    """What a service's start-up creates beside its read models (a claims table, an index on
    the events' entries) is created in turns as well."""
    name = f"t_{unique}_s"
    await run_migrations(database_url, name)
    engines = [make_engine(database_url, name, pool_size=1) for _ in range(REPLICAS)]
    try:
        stores = [EventStore(e, BANK_EVENTS) for e in engines]
        for round_ in range(3):
            await asyncio.gather(*(s.create_claims(f"claims_{round_}") for s in stores))
            await asyncio.gather(*(s.index_entries(f"field_{round_}") for s in stores))
        async with engines[0].connect() as conn:
            made = (await conn.execute(text(
                "SELECT array_agg(c.relkind::text || ' ' || c.relname ORDER BY c.relname) "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND "
                "(c.relname ~ '^claims_[0-9]$' OR c.relname LIKE 'events_entry_field%')"),
                {"s": name})).scalar_one()
        assert made == [f"r claims_{i}" for i in range(3)] + \
            [f"i events_entry_field_{i}" for i in range(3)]
    finally:
        for e in engines:
            await e.dispose()
