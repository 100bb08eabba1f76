"""Alembic migrations of the event store, outbox and projection bookkeeping tables.

They run in any schema: ``run_migrations(url, schema)`` creates the schema if needed and keeps
its own version table (``alembic_version_events``) so a service's read-model migrations can keep
theirs beside it.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from libs.events.db import check_schema, make_engine

HERE = Path(__file__).parent
VERSION_TABLE = "alembic_version_events"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    return cfg


async def run_migrations(database_url: str, schema: str, revision: str = "head") -> None:
    check_schema(schema)
    engine = make_engine(database_url, schema, pool_size=1)
    try:
        async with engine.begin() as conn:
            # replicas starting together (the chart's first install) migrate one at a time:
            # the others wait here, then find the schema at head
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                               {"k": f"ehr.migrate.{schema}"})
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await conn.run_sync(_upgrade, revision)
    finally:
        await engine.dispose()


def _upgrade(sync_conn, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = sync_conn
    command.upgrade(cfg, revision)
