"""``--statements`` of the FHIR benchmark: the settings a local PostgreSQL takes on its command
line are checked, a statement's counters become its cost per request of the phase (the
benchmark's own run reads them from pg_stat_statements), and a server without the library is
refused at once (on the test session's PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from rich.console import Console

from bench.fhir import statements as st
from libs.devstack.postgres import LocalPostgres
from libs.events.db import asyncpg_dsn


def test_a_local_postgres_takes_only_name_value_settings(tmp_path: Path):
    pg = LocalPostgres(tmp_path, 5432, settings=st.PRELOAD)
    assert pg.settings == ("shared_preload_libraries=pg_stat_statements",)
    for bad in ("shared_preload_libraries", "a=1 -c b=2", "a=1;touch x", "log_directory=/tmp"):
        with pytest.raises(ValueError):
            LocalPostgres(tmp_path, 5432, settings=(bad,))


def test_a_statement_s_counters_become_its_cost_per_request():
    row = st.row_of(calls=200, total_ms=50.0, rows=0, requests=100,
                    query="SELECT envelope::text\n   FROM events  WHERE stream_id = $1")
    assert row["statement"] == "SELECT envelope::text FROM events WHERE stream_id = $1"
    assert (row["calls per request"], row["µs per call"], row["µs per request"]) == (
        2.0, 250.0, 500.0)
    assert st.row_of(3, 1.0, 3, "BEGIN", requests=0)["µs per request"] == 1000.0
    console = Console(record=True, width=200)
    console.print(st.table("create", [row]))
    text = console.export_text()
    assert "our create phase" in text and "SELECT envelope::text FROM events" in text
    assert "500.0" in text and "250.0" in text


async def test_a_server_without_the_library_is_refused_before_anything_is_created(
        database_url):
    """The test session's PostgreSQL does not preload pg_stat_statements: ``--statements``
    against such a server says so at once, and leaves no extension behind."""
    dsn = asyncpg_dsn(database_url)
    with pytest.raises(st.Unavailable, match="shared_preload_libraries"):
        await st.reset(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval(
            "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'") == 0
    finally:
        await conn.close()
