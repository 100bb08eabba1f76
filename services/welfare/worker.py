"""The welfare service's stream processor on faust-streaming (DESIGN.md §2,
libs/events/faust_app.py): the alert rules that need no memory (``domain/rules.py``), and the
escalation of alerts nobody acknowledged within their SLA (a timer over ``welfare_alerts``).

One agent reads ``welfare.events`` with ``concurrency=1``, in batches (``noack_take``: up to
``batch_max`` events, or what came within ``batch_within_s``). For every reading made usable
(accepted at once, or released from quarantine) it decides the alert and tasks
(``domain/batch.py``), and records a whole batch in the welfare service's event store in one
transaction (``Intake.rule_batch``): the readings' claims in one statement, the people's
windows read and locked in one, every person's events in one append (one NOTIFY to the relay
per batch, not per reading: PostgreSQL commits transactions that notify one at a time), the
windows written back in one. Only after the commit are the batch's events acknowledged, so a
reading the worker sees again after a crash (faust commits acknowledged offsets: at-least-once)
records nothing twice, and an offset is only committed after its events are durable. The
relay then publishes them on ``welfare.events``; the worker reads its own events back and
ignores them.

**Windows** (``domain/windows.py``: repeated low SpO2, a door opened at night) and the
inactivity watch are one small value per person (internal patient id -> open windows,
watermark, last activity, limit), in PostgreSQL (``welfare_windows``), read and written in the
transaction that claims the readings and appends their events (``Intake.rule_batch``): a
worker killed anywhere sees the batch again and decides it from the windows as they were
before it, or finds its readings claimed and skips them. (They were a faust table with a changelog until a SIGKILL
test showed faust-streaming 0.15.3 losing messages after a restart that had a changelog to
restore: its recovery resumes the stream partitions and seeks them to the committed offsets
while its fetcher already runs, the first messages after the committed offset were never
delivered nor acknowledged, and the group's commits stopped there: faust-streaming issue
#596, open. Without tables, faust resumes streams only after the seek.)

**No activity for N hours by day** (``domain/inactivity.py``): the same value keeps the
person's last activity and their limit (``welfare.InactivityLimitSet`` comes on the same
partition: the Kafka key is the patient id). A timer (``inactivity_every_s``) sweeps everyone
watched with the watermark ``clock() - lateness`` (``clock`` injectable, so tests move time
instead of waiting) and records each passed gap's task under a claim on the task's id, so a
sweep repeated after a crash, or by another worker, records it once.

A message that cannot be decoded or decided goes to ``welfare.events.dlq`` with the reason in
``ehr.error`` (after the batch's commit; a reading the rules cannot decide leaves its person's
windows as they were and its claim released), and the rest of the batch and the stream go on;
a failing database write is retried, never skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import faust

from libs.config import Settings
from libs.events.db import make_engine
from libs.events.envelope import Actor, utcnow
from libs.events.faust_app import agent, create_app, dead_letter, retrying
from libs.events.registry import Registry
from libs.events.store import EventStore
from services.welfare import contract
from services.welfare.domain import alerts, batch, rules, windows
from services.welfare.projections.readings import ReadingsReader
from services.welfare.store import Intake

log = logging.getLogger(__name__)
APP_ID = "welfare-alerts"
SOURCE = "welfare.events"
WORKER = Actor(kind="system", id="welfare-alerts")
BATCH_MAX = 500          # readings decided in one transaction at most
BATCH_WITHIN_S = 0.05    # how long a batch waits to fill (a quiet stream: a reading's delay)


def registry() -> Registry:
    """The worker reads welfare.events only."""
    return Registry.of(contract)


def build_worker(settings: Settings, registry: Registry, *, schema: str,
                 topics: Mapping[str, str], config: rules.RuleConfig,
                 window_config: windows.WindowConfig = windows.WindowConfig(),
                 app_id: str = APP_ID, partitions: int = 12, escalate_every_s: float = 15.0,
                 inactivity_every_s: float = 60.0, batch_max: int = BATCH_MAX,
                 batch_within_s: float = BATCH_WITHIN_S,
                 clock: Callable[[], datetime] = utcnow, **overrides: Any) -> faust.App:
    """The faust app: one agent on ``welfare.events`` (``topics`` maps catalogue names to the
    topics in use; tests rename them) writing to the welfare schema ``schema``
    (``partitions``: welfare.events' count), deciding up to ``batch_max`` readings at once
    (what came within ``batch_within_s``)."""
    datadir = Path(overrides.pop("datadir", settings.local_dir / "faust" / app_id))
    datadir.mkdir(parents=True, exist_ok=True)
    app = create_app(app_id, settings, datadir=datadir, topic_partitions=partitions,
                     **overrides)
    engine = make_engine(settings.effective_database_url, schema)
    intake = Intake(engine, EventStore(engine, registry, topic_names=topics))
    channel = app.topic(topics.get(SOURCE, SOURCE), key_serializer="raw",
                        value_serializer="raw")

    async def decide(events: list[faust.EventT]) -> None:
        """Decide a batch and record it (one transaction, retried until it commits); what
        cannot be read or decided goes to the DLQ after the commit."""
        items, sources, poison = [], [], []
        for event in events:
            try:
                env, payload = registry.decode(event.value)
                reading = rules.reading_of(payload)
            except Exception as exc:  # noqa: BLE001
                poison.append((event, f"{type(exc).__name__}: {exc}"))
                continue
            if env.patient_id is None:
                continue
            if isinstance(payload, contract.InactivityLimitSet):
                items.append(batch.Item(env.patient_id, limit=payload))
            elif reading is not None:
                items.append(batch.Item(env.patient_id, reading=reading))
            else:
                continue
            sources.append(event)
        if items:
            now = utcnow()
            decided = await retrying(lambda: intake.rule_batch(
                items, lambda held, fresh: batch.fold(items, held, fresh, config, window_config,
                                                      now), WORKER), "recording", WHO)
            poison += [(sources[n], why) for n, why in sorted(decided.undecidable.items())]
        for event, why in poison:
            await retrying(lambda e=event, w=why: dead_letter(app, e, w, WHO), "dead-letter",
                           WHO)

    async def alert_rules(stream: faust.StreamT) -> None:
        # noack_take: the batch's events are acknowledged here, after its commit, never by
        # the generator (take_events acks in its finally, also when cancelled mid-batch)
        async for events in stream.noack_take(batch_max, batch_within_s):
            try:
                await decide(events)
            except Exception as exc:  # noqa: BLE001  (a defect: faust would ack and go on)
                log.error("welfare-alerts: a batch of %d failed (%s)", len(events),
                          type(exc).__name__)
                for event in events:
                    await dead_letter(app, event, f"{type(exc).__name__}: {exc}", WHO)
            for event in events:
                await stream.ack(event)

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

    recorded: set[UUID] = set()   # gaps known to be recorded (the claims are the truth)

    @app.timer(inactivity_every_s)
    async def inactivity() -> None:
        """Quiet gaps by day that have passed by the watermark: one task each."""
        try:
            now = clock()
            watermark = now - window_config.lateness
            for patient_id, value in await intake.watched():
                for task in windows.quiet(windows.State.of(value), patient_id, watermark,
                                          config, now):
                    if task.task_id not in recorded:
                        await intake.rule_outputs(patient_id, task.task_id, [task], WORKER)
                        recorded.add(task.task_id)
            if len(recorded) > 100_000:
                recorded.clear()
        except Exception as exc:  # noqa: BLE001  (the next tick tries again)
            log.warning("welfare-alerts: inactivity pass failed (%s)", type(exc).__name__)

    agent(app, channel, name=f"{app_id}.rules")(alert_rules)
    return app


WHO = "welfare-alerts"

