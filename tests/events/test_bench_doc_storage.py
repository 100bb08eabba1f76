"""``python -m bench.doc_storage`` on the test session's PostgreSQL, small: both storages are
written and read every round, and the baseline's documents are the compressed ones (the
benchmark compares what it says it compares)."""

from __future__ import annotations

from rich.progress import Progress

from bench.doc_storage import measure
from libs.events.db import asyncpg_dsn


async def test_the_default_storage_compresses_and_external_does_not(database_url, schema):
    with Progress(disable=True) as progress:
        got, size = await measure(asyncpg_dsn(database_url), progress, rows=20, rounds=2,
                                  reads=40, schema=schema)
    assert set(got) == {"EXTENDED", "EXTERNAL"}
    assert all(len(rounds) == 2 for rounds in got.values())
    assert all(r["write"] >= 0 and r["read"] >= 0 for rounds in got.values() for r in rounds)
    compressed, plain = got["EXTENDED"][0]["size"], got["EXTERNAL"][0]["size"]
    assert compressed < size / 2 < plain <= size   # jsonb's own form is a little smaller
