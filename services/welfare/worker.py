"""The welfare service's stream processor on faust-streaming (DESIGN.md §2,
libs/events/faust_app.py): the alert rules that need no memory (``domain/rules.py``), and the
escalation of alerts nobody acknowledged within their SLA (a timer over ``welfare_alerts``).

One agent reads ``welfare.events`` with ``concurrency=1``. For every reading made usable (accepted
at once, or released from quarantine) it decides the alert and tasks, and records them in the
welfare service's event store: in one transaction with a claim on the reading
(``Intake.rule_outputs``), so a reading the worker sees again after a crash (faust commits
offsets after the agent is done: at-least-once) records nothing twice, and an offset is only
committed after its events are durable. The relay then publishes them on ``welfare.events``;
the worker reads its own events back and ignores them.

A message that cannot be decoded or decided goes to ``welfare.events.dlq`` with the reason in
``ehr.error``, and the stream goes on; a failing database write is retried, never skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import faust

from libs.config import Settings
from libs.events.db import make_engine
from libs.events.envelope import Actor, utcnow
from libs.events.faust_app import agent, create_app
from libs.events.registry import Registry
from libs.events.store import EventStore
from libs.events.topics import dlq_of
from services.welfare import contract
from services.welfare.domain import alerts, rules
from services.welfare.projections.readings import ReadingsReader
from services.welfare.store import Intake

log = logging.getLogger(__name__)
APP_ID = "welfare-alerts"
SOURCE = "welfare.events"
WORKER = Actor(kind="system", id="welfare-alerts")


def registry() -> Registry:
    """The worker reads welfare.events only."""
    return Registry.of(contract)


def build_worker(settings: Settings, registry: Registry, *, schema: str,
                 topics: Mapping[str, str], config: rules.RuleConfig, app_id: str = APP_ID,
                 escalate_every_s: float = 15.0, **overrides: Any) -> faust.App:
    """The faust app: one agent on ``welfare.events`` (``topics`` maps catalogue names to the
    topics in use; tests rename them) writing to the welfare schema ``schema``."""
    datadir = Path(overrides.pop("datadir", settings.local_dir / "faust" / app_id))
    datadir.mkdir(parents=True, exist_ok=True)
    app = create_app(app_id, settings, datadir=datadir, **overrides)
    engine = make_engine(settings.effective_database_url, schema)
    intake = Intake(engine, EventStore(engine, registry, topic_names=topics))
    channel = app.topic(topics.get(SOURCE, SOURCE), key_serializer="raw",
                        value_serializer="raw")

    async def alert_rules(stream: faust.StreamT) -> None:
        async for event in stream.events():
            try:
                env, payload = registry.decode(event.value)
                reading = rules.reading_of(payload)
                if reading is None or env.patient_id is None:
                    continue
                outputs = rules.decide(reading, config, utcnow())
            except Exception as exc:  # noqa: BLE001  (faust would ack it and go on silently)
                await _dead_letter(app, event, f"{type(exc).__name__}: {exc}")
                continue
            await _record(intake, env.patient_id, reading.reading_id, outputs)

    @app.task
    async def prepare() -> None:
        await intake.setup()

    reader = ReadingsReader(engine)

    @app.timer(escalate_every_s)
    async def escalate() -> None:
        """Alerts nobody acknowledged in time go to the next level (each level once, never
        after an acknowledgement: ``Intake.alert_step``)."""
        try:
            now = utcnow()
            for patient_id, alert_id, level in await reader.overdue(now):
                step = alerts.escalation(alert_id, level, config.response_sla, now)
                if step is not None:
                    await intake.alert_step(patient_id, alert_id, f"escalated-{step.level}",
                                            [step], WORKER)
        except Exception as exc:  # noqa: BLE001  (the next tick tries again)
            log.warning("welfare-alerts: escalation pass failed (%s)", type(exc).__name__)

    agent(app, channel, name=f"{app_id}.rules")(alert_rules)
    return app


async def _record(intake: Intake, patient_id, reading_id, outputs) -> None:
    delay = 0.1
    while True:
        try:
            await intake.rule_outputs(patient_id, reading_id, outputs, WORKER)
            return
        except Exception as exc:  # noqa: BLE001  (the database away: try again, never skip)
            log.warning("welfare-alerts: recording failed (%s), retrying", type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def _dead_letter(app: faust.App, event: faust.EventT, error: str) -> None:
    msg = event.message
    headers = [("ehr.error", error[:2000].encode()), ("ehr.projection", b"welfare-alerts"),
               ("ehr.source", f"{msg.topic}/{msg.partition}/{msg.offset}".encode())]
    await app.producer.send_and_wait(dlq_of(msg.topic), msg.key, msg.value, None, None,
                                     headers)
    log.error("welfare-alerts: event at %s/%d/%d sent to DLQ: %s", msg.topic, msg.partition,
              msg.offset, error[:300])
