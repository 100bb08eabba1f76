"""What PostgreSQL spent, statement by statement, while a phase ran on our side
(``--statements``): the benchmark's own PostgreSQL loads ``pg_stat_statements``; the counters
are reset before each of our phases of the first round and read after it. A statement's cost
inside the server is measured this way whatever the machine's spread: the load_entries
statement that read whole streams stood out at once (bench/RESULTS.md, 5 Dec). Statements of
other databases (HAPI's) are left out. Needs the local PostgreSQL the benchmark starts (an
external server must have the library preloaded itself)."""

from __future__ import annotations

import re

import asyncpg
from rich.table import Table

PRELOAD = ("shared_preload_libraries=pg_stat_statements",)
SHOWN = 12

_TOP = """
    SELECT calls, total_exec_time, rows, query FROM pg_stat_statements
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND query NOT LIKE '%pg_stat_statements%'
     ORDER BY total_exec_time DESC LIMIT $1"""


class Unavailable(RuntimeError):
    """The server has not loaded ``pg_stat_statements`` (an external one, started without)."""


async def reset(dsn: str) -> None:
    """Zero the counters; ``Unavailable``, before anything is created, on a server that has
    not preloaded the library (the benchmark asks once before its set-up, so it fails fast)."""
    conn = await asyncpg.connect(dsn)
    try:
        if "pg_stat_statements" not in await conn.fetchval("SHOW shared_preload_libraries"):
            raise Unavailable(
                "--statements needs pg_stat_statements in the server's "
                "shared_preload_libraries; the benchmark's own PostgreSQL loads it, an "
                "external one (DATABASE_URL) must be started with it")
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.execute("SELECT pg_stat_statements_reset()")
    finally:
        await conn.close()


async def top(dsn: str, requests: int, n: int = SHOWN) -> list[dict]:
    """The ``n`` statements PostgreSQL spent most on since ``reset``, with their cost per
    request of the phase (``requests`` sent)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(_TOP, n)
    finally:
        await conn.close()
    return [row_of(r["calls"], r["total_exec_time"], r["rows"], r["query"], requests)
            for r in rows]


def row_of(calls: int, total_ms: float, rows: int, query: str, requests: int) -> dict:
    per = max(1, requests)
    return {"statement": re.sub(r"\s+", " ", query).strip()[:160], "calls": calls,
            "calls per request": round(calls / per, 3),
            "µs per call": round(total_ms * 1000 / max(1, calls), 1),
            "µs per request": round(total_ms * 1000 / per, 1), "rows": rows}


def table(phase: str, rows: list[dict]) -> Table:
    t = Table(title=f"PostgreSQL, our {phase} phase: the statements it spent most on",
              title_justify="left")
    for col in ("µs per request", "calls per request", "µs per call", "rows", "statement"):
        t.add_column(col, justify="left" if col == "statement" else "right",
                     overflow="fold" if col == "statement" else "ellipsis")
    for r in rows:
        t.add_row(f"{r['µs per request']:,.1f}", f"{r['calls per request']:.2f}",
                  f"{r['µs per call']:,.1f}", f"{r['rows']:,}", r["statement"][:100])
    return t
