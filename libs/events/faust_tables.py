"""Crash-safe faust tables (memory store + changelog) for the stream processors.

**Each table write is acknowledged before its event is done.** Faust flushes its producer
before it commits offsets, but its ``ProducerBuffer.flush`` gives up after 0.1 s with messages
still buffered (faust-streaming 0.15.3), so under load an offset could be committed past a table
write that a SIGKILL then loses: the event would not be seen again and the table would stay
without it (found by the registry export's SIGKILL test). :class:`DurableTable` keeps the
future of every changelog write, and an agent awaits :meth:`DurableTable.written` before it
takes the next event. **Known gap:** faust-streaming 0.15.3's ``Table`` sends
``table[key] = value`` from ``on_key_set``, not through ``_send_changelog``, so those writes are
not among them and :meth:`written` does not wait for them. Keeping their futures too (in
``send_changelog``) was tried on 2026-12-03: the registry worker's SIGKILL and takeover tests
then failed about one run in three (waits that ran out), with one shared list of futures and
with one per task alike, so it was taken out again (README, "Analysts").

**Newest version wins** (:class:`VersionedTable`). When a value at version *v* is the fold of
its source's first *v* events whoever wrote it, a changelog record never replaces a newer value
(faust's recovery and standby reads: :meth:`VersionedTable.apply_changelog_batch`), and a value
found behind the event it is asked to take is read again from the changelog
(:meth:`VersionedTable.reload`) before anything is folded onto it. Subclasses say what a
value's version is (:meth:`VersionedTable.version_of`).

The changelog is the durable copy: a worker that starts with no local files restores every
partition it is assigned from it, and a table write is sent to the changelog partition of the
event being processed, so keep tables keyed like their source topic (co-partitioned).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition

from libs.events.kafka_client import client_options

log = logging.getLogger(__name__)


class DurableTable(faust.Table):
    """A faust table whose changelog writes can be awaited (:meth:`written`)."""

    bootstrap: str = ""

    def _send_changelog(self, event: Any, key: Any, value: Any,
                        key_serializer: Any = None, value_serializer: Any = None) -> None:
        if event is None:
            raise RuntimeError("Cannot modify table outside of agent/stream.")
        sent = self.send_changelog(event.message.partition, key, value, key_serializer,
                                   value_serializer)
        self.__dict__.setdefault("_unacked", []).append(sent)

    async def written(self) -> None:
        """Wait until Kafka has acknowledged every changelog write made so far."""
        pending, self.__dict__["_unacked"] = self.__dict__.get("_unacked", []), []
        for sent in pending:
            await sent


class VersionedTable(DurableTable):
    """A :class:`DurableTable` whose values carry a version: the newest one is always right."""

    def version_of(self, key: Any, value: Any) -> int | None:
        """The value's version; None for a record that is not one of this table's values (an
        older layout), which recovery skips."""
        raise NotImplementedError

    def _held(self, key: Any) -> int:
        return self.version_of(key, self.data.get(key)) or 0

    def apply_changelog_batch(self, batch: Iterable[faust.EventT]) -> None:
        """Faust's recovery and standby reads: only what is newer than the value we hold."""
        newest: dict[Any, int] = {}
        kept = []
        for event in batch:
            v = self.version_of(event.key, event.value)
            if v is not None and v > newest.get(event.key, self._held(event.key)):
                newest[event.key] = v
                kept.append(event)
        super().apply_changelog_batch(kept)

    async def reload(self, partition: int) -> None:
        """Read the changelog partition from its start to its end, keeping the newest values:
        the values this worker holds are behind what other workers (or its own past) wrote."""
        generation = self.app.consumer_generation_id
        done = self.__dict__.setdefault("_reloaded", set())
        if (generation, partition) in done:
            return
        tp = TopicPartition(self.changelog_topic_name, partition)
        consumer = AIOKafkaConsumer(**client_options(self.bootstrap), group_id=None,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            end = (await consumer.end_offsets([tp]))[tp]
            while await consumer.position(tp) < end:
                for r in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
                    key = json.loads(r.key)
                    value = json.loads(r.value) if r.value is not None else None
                    if (self.version_of(key, value) or 0) > self._held(key):
                        self.data[key] = value
        finally:
            await consumer.stop()
        done.add((generation, partition))
        log.warning("%s: values of changelog partition %d were behind; read it again "
                    "(%d records)", self.name, partition, end)
