"""Session fixtures: real PostgreSQL and real Kafka, started once per test session.

See libs/devstack/session.py for the three ways to get them (external servers, testcontainers,
local processes). Each test gets its own schema and its own topics, so tests never see each
other's data.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.config import REPO_ROOT
from libs.devstack.session import StackHandle, test_stack
from libs.events.db import make_engine
from libs.events.kafka_admin import apply_topics
from libs.events.migrations import run_migrations
from libs.events.topics import TopicSpec

# pytester: tests of the test session itself; isolation: a broken teardown keeps its fixtures
pytest_plugins = ["pytester", "tests.support.isolation"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs the servers (directly or through a fixture) ``stack``, so
    ``make test-fast`` (``-m "not stack"``) runs the pure and in-memory tests alone."""
    for item in items:
        if "stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.stack)


@pytest.fixture(scope="session")
def stack() -> Iterator[StackHandle]:
    # one folder per session: concurrent sessions on one machine must not share data dirs
    base = REPO_ROOT / ".local" / "test-stack" / str(os.getpid())
    try:
        with test_stack(base) as handle:
            yield handle
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(stack: StackHandle) -> str:
    return stack.database_url


@pytest.fixture(scope="session")
def kafka_bootstrap(stack: StackHandle) -> str:
    return stack.kafka_bootstrap


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
async def schema(database_url: str, unique: str) -> str:
    """A fresh schema with the event-store tables migrated into it."""
    name = f"t_{unique}"
    await run_migrations(database_url, name)
    return name


@pytest.fixture
async def engine(database_url: str, schema: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(database_url, schema)
    yield eng
    await eng.dispose()


@pytest.fixture
def make_topics(kafka_bootstrap: str, unique: str) -> Callable:
    """Create uniquely named topics for one test: ``await make_topics("bank.events", 3)``
    returns the real name; the test's DLQ twin is created with it."""

    async def create(base: str, partitions: int = 3) -> str:
        name = f"{base}.{unique}"
        spec = TopicSpec(name, partitions, "test topic")
        from libs.events.topics import all_topics

        await apply_topics(kafka_bootstrap, all_topics((spec,)))
        return name

    return create


async def count_rows(engine: AsyncEngine, sql: str, **params) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar_one()


def repo_path(*parts: str) -> Path:
    return REPO_ROOT.joinpath(*parts)


@pytest.fixture
def cli_env(monkeypatch, database_url: str, kafka_bootstrap: str) -> Iterator[None]:
    """The ``ehr`` command pointed at the test session's PostgreSQL and Kafka."""
    from libs.config import get_settings

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    # `ehr import synthea` sends medications to a running stack only when a test says where
    monkeypatch.setenv("EHR_IMPORT_MEDICATION_URL", "off")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
