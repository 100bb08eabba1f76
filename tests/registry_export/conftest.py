"""Fixtures of the registry export's tests: the five source topics of one test."""

from __future__ import annotations

import pytest

from services.registry_export.worker import SOURCES

PARTITIONS = 3


@pytest.fixture
async def sources(make_topics) -> dict[str, str]:
    """The test's own copies of the five topics the worker reads (and their DLQs)."""
    return {s: await make_topics(s, PARTITIONS) for s in SOURCES}
