"""Fixtures of the registry export's tests: the four source topics of one test."""

from __future__ import annotations

import pytest

from tests.registry_export.support import SOURCES

PARTITIONS = 3


@pytest.fixture
async def sources(make_topics) -> dict[str, str]:
    """The test's own copies of the four topics the worker reads (and their DLQs)."""
    return {s: await make_topics(s, PARTITIONS) for s in SOURCES}
