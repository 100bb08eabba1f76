"""``is_applied``, the question a consistency wait asks at each poll, on PostgreSQL."""

from __future__ import annotations

import uuid

from libs.events.consistency import ConsistencyToken, applied_query, is_applied
from libs.events.db import pooled
from libs.events.migrations import run_migrations
from tests.support.plans import assert_plan_kept, one_connection


async def test_is_applied_answers_for_any_of_its_projections_with_a_plan_postgresql_keeps(
        database_url, schema):
    """Applied by one of the projections named is applied; by another projection, or by none,
    is not. The statement keeps its plan: with the names as one array PostgreSQL costed a
    generic plan as for ten of them and planned the question again at every poll."""
    await run_migrations(database_url, schema)
    facts, records = uuid.uuid4(), uuid.uuid4()
    async with one_connection(database_url, schema) as alone:
        async with pooled(alone) as conn:
            await conn.execute(   # other projections' events, for the planner's statistics
                "INSERT INTO projection_events SELECT 'other_' || (i % 5), gen_random_uuid() "
                "FROM generate_series(1, 20000) AS i")
            await conn.executemany("INSERT INTO projection_events VALUES ($1, $2)",
                                   [("access_facts", facts), ("journal_records", records)])
            await conn.execute("ANALYZE projection_events")
        both = ["access_facts", "journal_records"]
        answers = []
        for _ in range(4):
            answers += [await is_applied(alone, both, ConsistencyToken(e))
                        for e in (facts, records, uuid.uuid4())]
        assert answers == [True, True, False] * 4
        assert await is_applied(alone, "journal_records", ConsistencyToken(records))
        assert not await is_applied(alone, "journal_records", ConsistencyToken(facts))
        assert not await is_applied(alone, [], ConsistencyToken(facts))
        await assert_plan_kept(alone, applied_query(2), calls=12)
