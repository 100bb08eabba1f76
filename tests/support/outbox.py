"""Point an outbox filled by a command at the test's own topic.

A command such as ``ehr import synthea`` writes the catalogue's topic names into the outbox (it
is not a running service, whose ``EventStore.topic_names`` would name the test's topics). Before
a test's relay publishes those rows, they are renamed to a topic made for the test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import text

from libs.events.db import make_engine


async def outbox_to_test_topic(database_url: str, schema: str,
                               make_topics: Callable[..., Awaitable[str]],
                               catalogue_name: str = "journal.events",
                               partitions: int = 3) -> str:
    """Create the test's topic for ``catalogue_name`` and rename the outbox rows of ``schema``
    that name the catalogue topic; the test's topic."""
    topic = await make_topics(catalogue_name, partitions)
    engine = make_engine(database_url, schema, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE outbox SET topic = :t WHERE topic = :catalogue"),
                               {"t": topic, "catalogue": catalogue_name})
    finally:
        await engine.dispose()
    return topic
