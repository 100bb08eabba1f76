"""Faust apps for the stateful stream processors (windowed alert rules, running statistics).

:func:`create_app` builds a faust-streaming app from :class:`~libs.config.Settings`, with the
rules of DESIGN.md §2 fixed so a processor cannot loosen them by accident:

* **Agents run with ``concurrency=1``.** With more actors on one stream faust can commit an
  offset past a message another actor still has in flight, and that message is lost on restart.
  The app's ``Agent`` class refuses any other value, whether the agent is declared with
  :func:`agent` or with ``@app.agent``.
* **At-least-once.** Offsets are committed only after the agent is done with a message, so after
  a crash some messages are seen again: sinks must be idempotent (dedupe by ``event_id``).
  Faust's producer does not enable idempotence outside transactions, so a retried send can
  also duplicate an output record. An exception escaping the agent body does *not* redeliver:
  faust acks the message, restarts the agent and goes on with the next one. Catch errors inside
  the loop: retry transient faults there, send poison messages to ``<topic>.dlq``.
* **Event topics are never declared by faust.** They come from the catalogue
  (libs/events/topics.py, ``ehr topics apply``) and the broker runs with
  ``auto.create.topics.enable=false``. A topic named by a string is subscribed as an external
  topic, so faust never creates it or changes its configs. Faust still creates its own internal
  topics (the ``<id>-__assignor-__leader`` topic, table changelogs, agent-owned topics) with
  CreateTopics requests; ``topic_partitions`` is 12 like the catalogue's event topics, so a
  table keyed like its source topic is co-partitioned with it.
* **The web server listens on loopback only**, with the table, router, statistics and graph
  endpoints off. Give each worker its own ``web_port`` when several run on one host.
* **No personal data in faust tables.** Changelog topics are compacted copies kept outside the
  catalogue and the access log. Keep counters, windows and flags keyed by internal patient ids
  only: no names, national identity numbers, free text or clinical content.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.types import AgentT, ChannelT
from faust.types.agents import AgentFun

from libs.config import Settings
from libs.events.kafka_client import faust_credentials
from libs.events.topics import dlq_of

log = logging.getLogger(__name__)

# Settings that carry the rules above: create_app refuses overrides of these.
FIXED = ("processing_guarantee", "web_bind", "web_tables_enabled", "web_router_enabled", "Agent")


class SingleAgent(faust.Agent):
    """A faust agent that only runs one actor and never declares a named topic."""

    def __init__(self, fun: AgentFun, *, concurrency: int = 1, **kwargs: Any) -> None:
        _check_concurrency(concurrency)
        super().__init__(fun, concurrency=concurrency, **kwargs)

    def _prepare_channel(self, channel: str | ChannelT | None = None, internal: bool = True,
                         **kwargs: Any) -> ChannelT:
        # Faust marks a topic given by name as internal and creates it if missing. Only the
        # agent's own topic (no channel given: "<app id>-<agent name>") is faust's to create.
        return super()._prepare_channel(channel, internal=internal and channel is None,
                                        **kwargs)


def _check_concurrency(concurrency: int) -> None:
    if concurrency != 1:
        raise ValueError(
            f"faust agents must run with concurrency=1, not {concurrency!r}: with more actors "
            "faust can commit past a message still in flight and lose it on restart "
            "(DESIGN.md §2). Scale with partitions and workers instead."
        )


def create_app(name: str, settings: Settings, **overrides: Any) -> faust.App:
    """A faust app (consumer group ``name``) on the configured Kafka cluster.

    ``overrides`` are faust settings (``datadir``, ``web_port``, ``broker_commit_interval``...);
    the ones in :data:`FIXED` cannot be overridden.
    """
    fixed = sorted(set(overrides) & set(FIXED))
    if fixed:
        raise ValueError(f"faust settings {fixed} are fixed by DESIGN.md §2 and cannot be "
                         "overridden")
    brokers = [f"kafka://{host.strip()}" for host in settings.effective_kafka.split(",")]
    conf: dict[str, Any] = {
        "broker": brokers,
        "processing_guarantee": "at_least_once",
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        # TLS and SASL as configured (EHR_KAFKA_SECURITY_PROTOCOL...; None: plain text)
        "broker_credentials": faust_credentials(settings.kafka_security()),
        "topic_partitions": 12,
        "topic_replication_factor": settings.kafka_replication_factor,
        "datadir": settings.local_dir / "faust" / name,
        "web_bind": "127.0.0.1",
        "web_host": "127.0.0.1",
        "web_tables_enabled": False,
        "web_router_enabled": False,
        "web_stats_enabled": False,
        "web_graph_enabled": False,
        "web_metrics_enabled": False,
        "Agent": SingleAgent,
    }
    return faust.App(name, **(conf | overrides))


def agent(app: faust.App, topic: str | ChannelT | None = None, *, concurrency: int = 1,
          **kwargs: Any) -> Callable[[AgentFun], AgentT]:
    """``@agent(app, "journal.events")``: ``app.agent`` with ``concurrency=1`` checked up front.

    A topic given by name must exist (it is never created); pass ``None`` for an agent fed
    only through ``agent.send``/``cast`` (faust then creates ``<app id>-<agent name>``).
    """
    _check_concurrency(concurrency)
    return app.agent(topic, concurrency=1, **kwargs)


async def retrying(step: Callable[[], Awaitable[Any]], what: str, who: str, *,
                   fatal: tuple[type[BaseException], ...] = ()) -> Any:
    """Run ``step`` until it succeeds and return its result (any Kafka or database failure: try
    again, never skip: the event is not done before it). An exception in ``fatal`` (the event
    itself cannot be handled) is raised at once, for the caller to dead-letter."""
    delay = 0.1
    while True:
        try:
            return await step()
        except fatal:
            raise
        except Exception as exc:  # noqa: BLE001
            log.warning("%s: %s failed (%s), retrying", who, what, type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def dead_letter(app: faust.App, event: faust.EventT, error: str, who: str) -> None:
    """Send ``event`` as it came to its topic's DLQ (``<topic>.dlq``) with the reason in
    ``ehr.error``, where it came from in ``ehr.source``, and which processor in
    ``ehr.projection``."""
    msg = event.message
    headers = [("ehr.error", error[:2000].encode()), ("ehr.projection", who.encode()),
               ("ehr.source", f"{msg.topic}/{msg.partition}/{msg.offset}".encode())]
    await app.producer.send_and_wait(dlq_of(msg.topic), msg.key, msg.value, None, None,
                                     headers)
    log.error("%s: event at %s/%d/%d sent to DLQ: %s", who, msg.topic, msg.partition,
              msg.offset, error[:300])
