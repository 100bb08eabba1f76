"""The registry's stream processor on faust-streaming (DESIGN.md §2, libs/events/faust_app.py).

One agent per source topic (``journal.events``, ``consent.events``, ``medication.events``,
``audit.access``, ``welfare.events``: of that topic only the coverage streams, the welfare
technologies in use, ``person.folded``), each with ``concurrency=1``, folds every event into one table, ``persons``:
``<patient id>/<stream id>`` -> that stream's part of the
:class:`~services.registry_export.domain.person.Person` as JSON (``person.advance``). Readers
merge a person's parts (``person.merge``).

**Parts, versions and no lost update.** A part is folded from one stream only, and every event
of the stream moves its version on, so a part at version *v* is the fold of the stream's first
*v* events whoever wrote it. Three things follow, and together they make the table right
whatever faust's recovery and rebalancing do: the newest version of a key is always the right
value, so a changelog record never replaces a newer part (``DurableTable.apply_changelog_batch``,
and the readers in ``state.py`` do the same); an event for version *v* finding the part below
*v - 1* shows the worker's table is behind the changelog, and the worker reads that changelog
partition again before it folds anything onto it (``DurableTable.reload``); and a worker that
writes a part it no longer owns (a "zombie", expelled from the group under load while still
processing) writes the same value the owner does, never an older person over a newer one. The
one-value-per-person table this replaces lost updates in the two-worker takeover test under
load (the changelog ended with people holding their accesses but none of their journal facts:
a whole person written from an in-memory copy that lacked facts already written). Which faust
path left the copy stale was not pinned down (recovery and standby reads on a rebalance, the
memory store evicting keys of partitions it no longer owns, an expelled worker still writing);
with parts no stream's write carries another stream's facts, so it does not matter.

**Store: memory + changelog, not RocksDB.** The table is small (a few kB a person, about
400k service recipients nationally: well under a gigabyte across the workers), the changelog
topic is the durable copy (compacted, declared in the topic catalogue), and a worker that
starts with no local files restores every partition it is assigned from the changelog. RocksDB
(rocksdict) would only shorten that recovery, at the cost of a native dependency and of local
files that a SIGKILL can leave behind in a state the changelog does not match. Readers
(statistics, KPR, releases: ``state.py``) read the same changelog, never the worker.

**Nothing counted twice.** Faust commits offsets after the agent is done (at-least-once), so a
worker killed mid-stream sees some events again; ``advance`` skips any event whose stream
version the part has already folded in. The changelog write may be ahead of the committed offset,
never behind what it records.

**Each table write is acknowledged before its event is done.** Faust flushes its producer
before it commits offsets, but its ``ProducerBuffer.flush`` gives up after 0.1 s with messages
still buffered (faust-streaming 0.15.3), so under load an offset could be committed past a table
write that a SIGKILL then loses: the event would not be seen again and the person would stay
without it (found by the SIGKILL test). ``table[key] = value`` is no help either: faust sends it
from ``on_key_set``, and nobody can await that send. So the agent takes its events in batches
without faust's acks (``stream.noack_take``: up to :data:`BATCH`, or what came within
:data:`BATCH_WITHIN_S`), folds each into the local store, sends each part the batch changed
once (straight to the producer, its JSON from pydantic) and goes on with the next batch; a second
task (``_ack_when_written``) awaits the batches' sends in order and only then acks their
events, which is when their offsets become committable. At most :data:`PIPELINE` batches wait
for Kafka at once, so the worker is not held to one broker round trip per batch, and an offset
is never committed past a write Kafka has not acknowledged.

**Speed.** The worker folded 1,636 events/s next to a raw consumer's 15,410 doing the same
decoding and folding. Per event it parsed the whole part from the table's JSON, dumped it back,
let faust encode it again, and sent it to the changelog (and, since it was sent from
``on_key_set``, did not even wait for it). Now a part stays parsed in the local store, each part
is written once per batch (a person's events come together), encoded once, and the waits for
Kafka overlap the folding of the next batches (flame graphs: ``bench/profiles/registry-worker-*.svg``; README,
"Analysts").

**Poison goes to the DLQ.** Faust acknowledges a message whose agent raised, so every agent
catches its own errors and sends the raw event to ``<topic>.dlq`` (acknowledged before it goes
on) with the reason in ``ehr.error``; the rest of the stream goes on.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import faust

from libs.config import Settings
from libs.events.faust_app import agent, create_app
from libs.events.faust_tables import VersionedTable, retrying
from libs.events.registry import Registry
from libs.events.topics import dlq_of
from services.registry_export.domain.person import Person, advance, folded, part_key, version

log = logging.getLogger(__name__)

APP_ID = "registry-export"
BATCH = 500            # events folded between two waits for the changelog's acknowledgements
BATCH_WITHIN_S = 0.02  # ... or fewer, when no more came within this long
PRODUCER_LINGER_S = 0.005
PIPELINE = 8           # batches whose changelog writes may await acknowledgement at once
TABLE = "persons"
SOURCES = ("journal.events", "consent.events", "medication.events", "audit.access",
           "welfare.events")


class DurableTable(VersionedTable):
    """The ``persons`` table: one part a source stream, keyed ``<patient id>/<stream id>``
    (libs/events/faust_tables.py: acknowledged writes, the newest version of a part wins).
    The local store holds a part as the :class:`Person` the worker folded (or, restored from
    the changelog, as its JSON, parsed once when first read); the changelog holds its JSON."""

    def version_of(self, key: Any, value: Any) -> int | None:
        if not isinstance(key, str) or "/" not in key:
            return None   # not a part (a record of an older layout)
        if isinstance(value, Person):
            return version(value)
        return _version_of(value) if isinstance(value, dict) else None

    def part(self, key: str) -> Person | None:
        value = self.data.get(key)
        if value is None or isinstance(value, Person):
            return value
        part = Person.model_validate(value)
        self.data[key] = part   # parsed once
        return part


def _version_of(value: Any) -> int:
    return max(value.get("seen", {}).values(), default=0) if isinstance(value, dict) else 0


def changelog_topic(app_id: str = APP_ID) -> str:
    """Faust's name for the table's changelog topic."""
    return f"{app_id}-{TABLE}-changelog"


def build_worker(settings: Settings, registry: Registry, *, topics: Mapping[str, str],
                 app_id: str = APP_ID, partitions: int = 12, **overrides: Any) -> faust.App:
    """The faust app with its table and one agent per source topic (``topics``: catalogue
    name -> the topic in use; tests rename them). ``partitions`` is the source topics' count:
    the table is co-partitioned with them, keyed by patient id like they are."""
    datadir = Path(overrides.pop("datadir", settings.local_dir / "faust" / app_id))
    datadir.mkdir(parents=True, exist_ok=True)   # faust does not create its parents
    # a few ms of linger gather a batch's changelog writes into one produce request per
    # partition (with none, each part went as a request of its own)
    app = create_app(app_id, settings, topic_partitions=partitions, datadir=datadir,
                     **({"producer_linger": PRODUCER_LINGER_S} | overrides))
    persons = app.tables.add(DurableTable(app, name=TABLE, default=None, partitions=partitions,
                                          key_type=str, beacon=app.tables.beacon))
    persons.bootstrap = settings.effective_kafka
    for source in SOURCES:
        _agent_for(app, persons, registry, topics[source], source)
    return app


def _agent_for(app: faust.App, persons: DurableTable, registry: Registry, topic: str,
               source: str) -> None:
    channel = app.topic(topic, key_serializer="raw", value_serializer="raw")

    async def fold_events(stream: faust.StreamT) -> None:
        # events are never acked by faust here (noack_take): _ack_when_written acks a batch,
        # making its offsets committable, once Kafka has acknowledged its changelog writes
        inflight: asyncio.Queue[tuple[list[faust.EventT], list[Sent]]] = asyncio.Queue(
            maxsize=PIPELINE)
        acker = asyncio.ensure_future(_ack_when_written(stream, persons, inflight))
        try:
            async for events in stream.noack_take(BATCH, within=BATCH_WITHIN_S):
                written: dict[str, tuple[int, Person]] = {}
                for event in events:
                    await _fold(app, persons, registry, event, written)
                await inflight.put((events, [
                    (key, partition, await _send(persons, key, partition, part))
                    for key, (partition, part) in written.items()]))
        finally:
            acker.cancel()

    fold_events.__name__ = fold_events.__qualname__ = f"fold_{source.replace('.', '_')}"
    agent(app, channel, name=f"{app.conf.id}.{source}")(fold_events)


Sent = tuple[str, int, Awaitable[Any]]   # (key, changelog partition, the send)


async def _send(persons: DurableTable, key: str, partition: int,
                part: Person) -> Awaitable[Any]:
    """Hand the part to the producer (the key as faust's json codec writes it); the send to
    await for Kafka's acknowledgement. Straight to the producer: faust's own changelog path
    (``send_changelog``) goes through a buffer drained one message at a time, which held the
    worker to a few hundred writes a second. Handing over is retried, never skipped (the
    broker away, the producer's buffer full)."""
    sent: list[Awaitable[Any]] = []

    async def hand_over() -> None:
        sent.append(await persons.app.producer.send(
            persons.changelog_topic_name, json.dumps(key).encode(),
            part.model_dump_json().encode(), partition, None, None))
    await _retrying(hand_over, "changelog send")
    return sent[0]


async def _ack_when_written(stream: faust.StreamT, persons: DurableTable,
                            inflight: asyncio.Queue[tuple[list[faust.EventT], list[Sent]]]
                            ) -> None:
    """Batch after batch, in order: wait for Kafka's acknowledgement of each changelog write,
    then ack the batch's events. A failed write (the broker away) is sent again with the part
    as it stands now (never an older one after a newer), until it is acknowledged: no event
    is done before its write."""
    while True:
        events, sent = await inflight.get()
        for key, partition, send in sent:
            delay = 0.1
            while True:
                try:
                    await send
                    break
                except Exception as exc:  # noqa: BLE001
                    log.warning("registry-export: changelog write failed (%s), retrying",
                                type(exc).__name__)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    part = persons.part(key)
                    if part is None:
                        break
                    send = await _send(persons, key, partition, part)
        for event in events:
            await stream.ack(event)


async def _fold(app: faust.App, persons: DurableTable, registry: Registry,
                event: faust.EventT, written: dict[str, tuple[int, Person]]) -> None:
    """Fold one event into its part in the local store; the part to write goes in
    ``written`` (the newest of the batch per key)."""
    try:
        env, payload = registry.decode(event.value)
    except Exception as exc:  # noqa: BLE001  (faust would ack it and go on silently)
        await _dead_letter(app, event, f"{type(exc).__name__}: {exc}")
        return
    if env.patient_id is None or not folded(env.stream_id):
        return
    key = part_key(env.patient_id, env.stream_id)
    part = persons.part(key)
    if env.stream_version > (version(part) if part else 0) + 1:
        await _retrying(lambda: persons.reload(event.message.partition), "reload")
        part = persons.part(key)
    try:
        changed = advance(part, env, payload)
    except Exception as exc:  # noqa: BLE001
        await _dead_letter(app, event, f"{type(exc).__name__}: {exc}")
        return
    if changed is not None:
        persons.data[key] = changed
        written[key] = (event.message.partition, changed)


async def _retrying(step: Callable[[], Awaitable[None]], what: str) -> None:
    await retrying(step, what, "registry-export")


async def _dead_letter(app: faust.App, event: faust.EventT, error: str) -> None:
    msg = event.message
    headers = [("ehr.error", error[:2000].encode()),
               ("ehr.projection", b"registry-export"),
               ("ehr.source", f"{msg.topic}/{msg.partition}/{msg.offset}".encode())]
    await app.producer.send_and_wait(dlq_of(msg.topic), msg.key, msg.value, None, None,
                                     headers)
    log.error("registry-export: event at %s/%d/%d sent to DLQ: %s", msg.topic, msg.partition,
              msg.offset, error[:300])
