"""The drug catalogue in PostgreSQL, and the live copy a service holds in memory.

Two tables in the medication schema:

- ``catalogue_loads``: one row per load that changed something (``load_id``, the extract's
  header, when, from where, the plan's counts). The newest row is the loaded extract.
- ``catalogue_items``: every substance, product and interaction ever loaded, by ``(kind, id)``,
  as its JSON document, with ``expired_on`` (the date of the first extract that lacked it) and
  the load that last wrote it. Nothing is ever deleted: an old order may name an expired product.

``CatalogueStore.load`` plans with the pure ``plan_load`` against the state it reads under a
transaction-level advisory lock, writes the plan, and notifies ``medication_catalogue`` with the
new load id, all in one transaction (PostgreSQL delivers the notification on commit). Loading the
same extract again is "nothing to do": no row, no notification. ``LiveCatalogue`` keeps the
newest catalogue in memory and refreshes on that notification (and, as a fallback, by polling).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.events.db import asyncpg_dsn, setup_turn
from services.medication.catalogue import (Catalogue, CatalogueError, Extract, ExtractHeader,
                                           Interaction, LoadPlan, Product, Substance,
                                           plan_load, sample_extract)
from services.medication.catalogue.adapter import FestCatalogue

log = logging.getLogger(__name__)

CHANNEL = "medication_catalogue"
KINDS: dict[str, type[Substance] | type[Product] | type[Interaction]] = {
    "substances": Substance, "products": Product, "interactions": Interaction}
MAX_EXPIRED_SHARE = 0.2

_DDL = (
    """CREATE TABLE IF NOT EXISTS catalogue_loads (
        load_id bigserial PRIMARY KEY,
        extract_date date NOT NULL,
        header jsonb NOT NULL,
        source text NOT NULL,
        loaded_at timestamptz NOT NULL DEFAULT now(),
        counts jsonb NOT NULL,
        allow_older boolean NOT NULL DEFAULT false,
        forced boolean NOT NULL DEFAULT false)""",
    """CREATE TABLE IF NOT EXISTS catalogue_items (
        kind text NOT NULL CHECK (kind IN ('substances', 'products', 'interactions')),
        id text NOT NULL,
        doc jsonb NOT NULL,
        expired_on date,
        load_id bigint NOT NULL REFERENCES catalogue_loads,
        PRIMARY KEY (kind, id))""",
)
# advisory locks are database-wide: the key names the schema too
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('ehr.medication_catalogue.' || current_schema()))"


@dataclass(frozen=True)
class LoadResult:
    """``load_id`` is the load now current: the new one, or the existing one when the extract
    was loaded already (``nothing_to_do``: no row written, no notification)."""

    plan: LoadPlan
    load_id: int
    nothing_to_do: bool


@dataclass(frozen=True)
class LoadRecord:
    load_id: int
    extract_date: date
    header: ExtractHeader
    source: str
    loaded_at: datetime
    counts: Mapping[str, Mapping[str, int]]
    allow_older: bool
    forced: bool


def truncation_problems(current: Catalogue | None, plan: LoadPlan,
                        max_share: float) -> list[str]:
    """One sentence per kind of which the plan would expire more than ``max_share`` of the
    active entries: the mark of a truncated extract."""
    if current is None:
        return []
    problems = []
    for kind, kp in plan.kinds.items():
        entries: Mapping[str, Any] = getattr(current, kind)
        active = sum(1 for i in entries if i not in current.expired)
        if active and len(kp.expired) / active > max_share:
            problems.append(
                f"The extract of {plan.extract_date.isoformat()} lacks {len(kp.expired)} of the "
                f"{active} active {kind} ({len(kp.expired) / active:.0%}; at most "
                f"{max_share:.0%} may expire in one load), so it looks truncated; check the "
                "file, or load it with force if they really were withdrawn.")
    return problems


class CatalogueStore:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def setup(self) -> None:
        """Create the tables if missing (the schema must exist: run the migrations first)."""
        async with self.engine.begin() as conn:
            await setup_turn(conn)
            for ddl in _DDL:
                await conn.execute(text(ddl))

    async def current(self) -> tuple[int, Catalogue] | None:
        """The newest load id and the catalogue, read from one snapshot; None before any load."""
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                return await _read(conn)

    async def current_load_id(self) -> int | None:
        async with self.engine.connect() as conn:
            return (await conn.execute(text("SELECT max(load_id) FROM catalogue_loads"))
                    ).scalar_one()

    async def load(self, extract: Extract, *, source: str, allow_older: bool = False,
                   max_expired_share: float = MAX_EXPIRED_SHARE,
                   force: bool = False) -> LoadResult:
        """Load ``extract`` in one transaction, one loader at a time; ``CatalogueError`` (and
        nothing written) for an older extract without ``allow_older`` or, without ``force``,
        one that would expire more than ``max_expired_share`` of the active entries."""
        async with self.engine.begin() as conn:
            await conn.execute(text(_LOCK))
            found = await _read(conn)
            load_id, current = found if found else (None, None)
            plan = plan_load(current, extract, allow_older=allow_older)
            if plan.is_noop and load_id is not None:
                return LoadResult(plan, load_id, nothing_to_do=True)
            if not force:
                problems = truncation_problems(current, plan, max_expired_share)
                if problems:
                    raise CatalogueError(problems)
            new_id = await _write(conn, plan, source, allow_older=allow_older, forced=force)
            await conn.execute(text("SELECT pg_notify(:channel, :payload)"),
                               {"channel": CHANNEL, "payload": str(new_id)})
        return LoadResult(plan, new_id, nothing_to_do=False)

    async def history(self, limit: int = 5) -> list[LoadRecord]:
        """The newest loads first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(text("""
                SELECT load_id, extract_date, header, source, loaded_at, counts, allow_older,
                       forced
                  FROM catalogue_loads ORDER BY load_id DESC LIMIT :n"""), {"n": limit})
            return [LoadRecord(r.load_id, r.extract_date, ExtractHeader.model_validate(r.header),
                               r.source, r.loaded_at, r.counts, r.allow_older, r.forced)
                    for r in rows]

    async def counts(self) -> dict[str, tuple[int, int]]:
        """Kind -> (active, expired)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(text("""
                SELECT kind, count(*) FILTER (WHERE expired_on IS NULL) AS active,
                       count(*) FILTER (WHERE expired_on IS NOT NULL) AS expired
                  FROM catalogue_items GROUP BY kind"""))
            found = {r.kind: (r.active, r.expired) for r in rows}
        return {kind: found.get(kind, (0, 0)) for kind in KINDS}


async def _read(conn: AsyncConnection) -> tuple[int, Catalogue] | None:
    newest = (await conn.execute(text(
        "SELECT load_id, header FROM catalogue_loads ORDER BY load_id DESC LIMIT 1"))).first()
    if newest is None:
        return None
    entries: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
    expired: dict[str, date] = {}
    for kind, entry_id, doc, expired_on in await conn.execute(text(
            "SELECT kind, id, doc, expired_on FROM catalogue_items ORDER BY kind, id")):
        entries[kind][entry_id] = KINDS[kind].model_validate(doc)
        if expired_on is not None:
            expired[entry_id] = expired_on
    return newest.load_id, Catalogue(header=ExtractHeader.model_validate(newest.header),
                                     expired=expired, **entries)


async def _write(conn: AsyncConnection, plan: LoadPlan, source: str, *, allow_older: bool,
                 forced: bool) -> int:
    load_id = (await conn.execute(text("""
        INSERT INTO catalogue_loads (extract_date, header, source, counts, allow_older, forced)
        VALUES (:d, CAST(:h AS jsonb), :s, CAST(:c AS jsonb), :a, :f) RETURNING load_id"""), {
        "d": plan.extract_date, "h": plan.extract.model_dump_json(), "s": source,
        "c": json.dumps(plan.counts()), "a": allow_older, "f": forced})).scalar_one()
    for kind, kp in plan.kinds.items():
        if kp.writes:
            await conn.execute(text("""
                INSERT INTO catalogue_items (kind, id, doc, expired_on, load_id)
                SELECT :kind, i, CAST(d AS jsonb), NULL, :load
                  FROM unnest(CAST(:ids AS text[]), CAST(:docs AS text[])) AS w(i, d)
                ON CONFLICT (kind, id) DO UPDATE
                   SET doc = excluded.doc, expired_on = NULL, load_id = excluded.load_id"""),
                {"kind": kind, "load": load_id, "ids": [e.id for e in kp.writes],
                 "docs": [e.model_dump_json() for e in kp.writes]})
        if kp.expired:
            await conn.execute(text("""
                UPDATE catalogue_items SET expired_on = :d, load_id = :load
                 WHERE kind = :kind AND id = ANY(CAST(:ids AS text[]))"""),
                {"d": plan.extract_date, "load": load_id, "kind": kind,
                 "ids": list(kp.expired)})
    return load_id


class LiveCatalogue:
    """The newest catalogue, in memory, for a service. ``start()`` creates the tables, loads
    the shipped sample into an empty database if asked (never in production), listens on
    ``medication_catalogue`` and reads the current catalogue; a notification (or every
    ``poll_interval_s``, in case one was lost) refreshes it. A failed refresh is logged and the
    catalogue in hand is kept."""

    def __init__(self, store: CatalogueStore, *, load_sample_if_empty: bool,
                 poll_interval_s: float = 60.0, retry_s: float = 5.0):
        self.store = store
        self.load_sample_if_empty = load_sample_if_empty
        self.poll_interval_s = poll_interval_s
        self.retry_s = retry_s
        self.last_error: str | None = None
        self._loaded: tuple[int, Catalogue] | None = None
        self._view: tuple[int, FestCatalogue] | None = None
        self._listener: asyncpg.Connection | None = None
        self._wake = asyncio.Event()
        self._refreshing = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None

    @property
    def catalogue(self) -> Catalogue | None:
        return self._loaded[1] if self._loaded else None

    @property
    def load_id(self) -> int | None:
        return self._loaded[0] if self._loaded else None

    @property
    def extract_date(self) -> date | None:
        return self._loaded[1].extract_date if self._loaded else None

    @property
    def view(self) -> FestCatalogue | None:
        """Decision support's view of the catalogue, built once per load."""
        loaded = self._loaded
        if loaded is None:
            return None
        if self._view is None or self._view[0] != loaded[0]:
            self._view = (loaded[0], FestCatalogue(loaded[1]))
        return self._view[1]

    async def start(self) -> None:
        await self.store.setup()
        if self.load_sample_if_empty and await self.store.current_load_id() is None:
            result = await self.store.load(sample_extract(), source="sample")
            log.info("drug catalogue: loaded the shipped SAMPLE (not for clinical use), load %s",
                     result.load_id)
        await self._listen()  # before reading, so no load between the two goes unnoticed
        try:
            self._loaded = await self.store.current()
        except BaseException:
            await self._close_listener()
            raise
        self._watcher = asyncio.create_task(self._watch(), name="catalogue-watcher")

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        await self._close_listener()

    async def refresh(self) -> bool:
        """Read the catalogue again if another load is current; whether it changed. A failure
        is logged and keeps the catalogue in hand."""
        async with self._refreshing:
            try:
                newest = await self.store.current_load_id()
                if newest is None or newest == self.load_id:
                    return False
                loaded = await self.store.current()
            except Exception as exc:  # noqa: BLE001 - the old catalogue stays usable
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("drug catalogue: refresh failed; keeping load %s", self.load_id)
                return False
            self.last_error = None
            if loaded is None or loaded[0] == self.load_id:
                return False
            self._loaded = loaded
            log.info("drug catalogue: now load %s, extract of %s", loaded[0],
                     loaded[1].extract_date.isoformat())
            return True

    async def _listen(self) -> None:
        url = self.store.engine.url.render_as_string(hide_password=False)
        conn = await asyncpg.connect(asyncpg_dsn(url), server_settings={
            "application_name": "ehr-medication-catalogue"})
        try:
            await conn.add_listener(CHANNEL, self._notified)
        except BaseException:
            await conn.close()
            raise
        self._listener = conn

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        # the payload is a load id of *some* schema (the channel is database-wide): refresh
        # reads this store's newest load id instead of trusting it
        log.debug("drug catalogue: notified of load %s", payload)
        self._wake.set()

    async def _watch(self) -> None:
        while True:
            try:
                if self._listener is None or self._listener.is_closed():
                    await self._close_listener()
                    await self._listen()
                    self._wake.set()  # a load may have come while nobody listened
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
                self._wake.clear()
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep watching
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("drug catalogue: cannot listen for loads (%s); retrying",
                            type(exc).__name__)
                await asyncio.sleep(self.retry_s)

    async def _close_listener(self) -> None:
        conn, self._listener = self._listener, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await conn.remove_listener(CHANNEL, self._notified)
            try:
                await asyncio.wait_for(conn.close(), 5)
            except Exception:  # noqa: BLE001 - a dead connection cannot close cleanly
                conn.terminate()
