"""Statistics for a read model's tables as soon as they hold rows.

PostgreSQL plans a statement on its tables' statistics, which autovacuum gathers a minute or more
after the rows arrive (``autovacuum_naptime``, then its turn among the databases). Until then a
table never analyzed (a new install, a read model rebuilt after ``reset``, which truncates it,
an import) is planned as if it held a row or two: a FHIR search of one patient's Observations
among 8,000 versions went through every current Observation of every patient and sorted them,
2.9 ms for the page against 0.13 ms once analyzed (bench/RESULTS.md). A projection names the
tables whose reads depend on their statistics (``Projection.analyzed``); its runner analyzes
each one once it holds ``at_rows`` rows and has no statistics yet, looking at most every
``every_s`` seconds, after a committed batch. Autovacuum keeps them up to date from there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.events.db import is_transient, pooled

log = logging.getLogger(__name__)

AT_ROWS = 1_000
EVERY_S = 2.0


class FirstStatistics:
    def __init__(self, engine: AsyncEngine, tables: Sequence[str], at_rows: int = AT_ROWS,
                 every_s: float = EVERY_S):
        self.engine, self.tables, self.at_rows, self.every_s = engine, tuple(tables), at_rows, \
            every_s
        self.pending = set(self.tables)
        self.analyzed: list[str] = []   # by this runner, in order (its log says so too)
        self._next = 0.0

    def forget(self) -> None:
        """The tables were emptied (a reset): each is analyzed again once it is filled."""
        self.pending = set(self.tables)
        self._next = 0.0

    async def check(self) -> list[str]:
        """Analyze each pending table that holds ``at_rows`` rows and has no statistics; one
        that has them (from autovacuum, an operator, an earlier run) is no longer pending, nor
        is one it may not analyze (said once in the log: autovacuum still will). It never
        raises: the batch before it has committed, whatever happens here. Returns the tables
        analyzed."""
        if not self.pending or time.monotonic() < self._next:
            return []
        self._next = time.monotonic() + self.every_s
        done: list[str] = []
        try:
            async with pooled(self.engine) as conn:
                await self._check(conn, done)
        except Exception as exc:     # no connection to be had: look again later
            log.warning("statistics not looked at: %s", type(exc).__name__)
        return done

    async def _check(self, conn: asyncpg.Connection, done: list[str]) -> None:
        for table in sorted(self.pending):
            try:
                rows = await conn.fetchval(
                    "SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)", table)
                if rows is not None and rows <= 0:     # never analyzed (-1), or when empty
                    filled = await conn.fetchval(
                        f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT {self.at_rows}) t")
                    if filled < self.at_rows:
                        continue
                    await conn.execute(f"ANALYZE {table}")
                    log.info("statistics of %s gathered: it holds %d rows or more", table,
                             filled)
                    done.append(table)
                    self.analyzed.append(table)
            except Exception as exc:
                if is_transient(exc):    # the database went away: look again later
                    return
                log.warning("statistics of %s not gathered (autovacuum will): %s", table,
                            type(exc).__name__)
            self.pending.discard(table)
