"""Hear what the projections of other processes applied: ``LISTEN ehr_applied:<schema>`` (and
``ehr_applied``, where runners of an older version notified) on a connection of its own, and
each notification of this schema announced to the waiters here
(:data:`libs.events.consistency.applied_here`).

A projection runner's batch notifies in its claim statement, so the notification is delivered
when the batch commits (``libs/events/projection_positions.py``): schema, projection and the
batch's event ids. As the chart deploys a service, its projections run in other pods than its
API, and a write that answers with the read model's view (a FHIR create) waited for them by
polling: four or five questions per write, and up to the last pause more than the pipeline
took. A lost connection is made again after ``retry_s``; until then the waits poll as before,
so nothing depends on a notification arriving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from uuid import UUID

import asyncpg

from libs.events.consistency import Announcements, applied_here
from libs.events.db import asyncpg_dsn
from libs.events.many_streams import channel_of
from libs.events.projection_positions import APPLIED_CHANNEL

log = logging.getLogger(__name__)


def parse(payload: str) -> tuple[str, str, list[UUID] | None]:
    """(schema, projection, event ids or ``None`` for "some") of a notification."""
    schema, projection, *ids = payload.split(" ")
    return schema, projection, [UUID(hex=i) for i in ids] if ids else None


class AppliedListener:
    """Announce here what the runners of ``schema``'s projections elsewhere applied."""

    def __init__(self, database_url: str, schema: str, *, retry_s: float = 1.0,
                 announcements: Announcements = applied_here):
        self.dsn, self.schema, self.retry_s = asyncpg_dsn(database_url), schema.lower(), retry_s
        self._prefix = f"{self.schema} "
        self.announcements = announcements
        self.connected = asyncio.Event()   # for tests: listening now
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"applied listener {self.schema}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except Exception as exc:  # noqa: BLE001 - whatever it was, listen again later
                log.warning("applied listener %s: %s; polling until it is back",
                            self.schema, type(exc).__name__)
            await asyncio.sleep(self.retry_s)

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self.dsn, timeout=10, server_settings={
            "application_name": f"ehr-applied-{self.schema}"})
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        try:
            for channel in (channel_of(APPLIED_CHANNEL, self.schema), APPLIED_CHANNEL):
                await conn.add_listener(channel, self._heard)   # (the second: older runners)
            self.announcements.listening()
            self.connected.set()
            try:
                await lost.wait()
            finally:
                self.connected.clear()
                self.announcements.listening(active=False)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5)

    def _heard(self, _conn, _pid, _channel, payload: str) -> None:
        # read only this schema's (the old channel carried every service's batches), and
        # only while someone here waits (the ids of a batch were parsed for every listener)
        if not payload.startswith(self._prefix) or not self.announcements.waiting():
            return
        try:
            _, projection, event_ids = parse(payload)
        except ValueError:
            log.warning("applied listener %s: a notification it cannot read", self.schema)
            return
        self.announcements.announce(projection, event_ids)   # its schema: the prefix's
