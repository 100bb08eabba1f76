"""The welfare service's stream processor on faust-streaming (DESIGN.md §2,
libs/events/faust_app.py): the alert rules that need no memory (``domain/rules.py``), and the
escalation of alerts nobody acknowledged within their SLA (a timer over ``welfare_alerts``).

One agent reads ``welfare.events`` with ``concurrency=1``. For every reading made usable (accepted
at once, or released from quarantine) it decides the alert and tasks, and records them in the
welfare service's event store: in one transaction with a claim on the reading
(``Intake.rule_step``), so a reading the worker sees again after a crash (faust commits
offsets after the agent is done: at-least-once) records nothing twice, and an offset is only
committed after its events are durable. The relay then publishes them on ``welfare.events``;
the worker reads its own events back and ignores them.

**Windows** (``domain/windows.py``: repeated low SpO2, a door opened at night) and the
inactivity watch are one small value per person (internal patient id -> open windows,
watermark, last activity, limit), in PostgreSQL (``welfare_windows``), read and written in the
transaction that claims the reading and appends its events (``Intake.rule_step``): a worker
killed anywhere sees the reading again and decides it from the windows as they were before
it, or finds it claimed and skips it. (They were a faust table with a changelog until a SIGKILL
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
``ehr.error``, and the stream goes on; a failing database write is retried, never skipped.
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
from services.welfare.domain import alerts, rules, windows
from services.welfare.projections.readings import ReadingsReader
from services.welfare.store import Intake

log = logging.getLogger(__name__)
APP_ID = "welfare-alerts"
SOURCE = "welfare.events"
WORKER = Actor(kind="system", id="welfare-alerts")


class Undecidable(Exception):
    """The rules cannot decide this reading (a defect or a malformed value): it goes to the
    DLQ, not round a retry loop."""


def registry() -> Registry:
    """The worker reads welfare.events only."""
    return Registry.of(contract)


def build_worker(settings: Settings, registry: Registry, *, schema: str,
                 topics: Mapping[str, str], config: rules.RuleConfig,
                 window_config: windows.WindowConfig = windows.WindowConfig(),
                 app_id: str = APP_ID, partitions: int = 12, escalate_every_s: float = 15.0,
                 inactivity_every_s: float = 60.0,
                 clock: Callable[[], datetime] = utcnow, **overrides: Any) -> faust.App:
    """The faust app: one agent on ``welfare.events`` (``topics`` maps catalogue names to the
    topics in use; tests rename them) writing to the welfare schema ``schema``
    (``partitions``: welfare.events' count)."""
    datadir = Path(overrides.pop("datadir", settings.local_dir / "faust" / app_id))
    datadir.mkdir(parents=True, exist_ok=True)
    app = create_app(app_id, settings, datadir=datadir, topic_partitions=partitions,
                     **overrides)
    engine = make_engine(settings.effective_database_url, schema)
    intake = Intake(engine, EventStore(engine, registry, topic_names=topics))
    channel = app.topic(topics.get(SOURCE, SOURCE), key_serializer="raw",
                        value_serializer="raw")

    async def alert_rules(stream: faust.StreamT) -> None:
        async for event in stream.events():
            try:
                env, payload = registry.decode(event.value)
                reading = rules.reading_of(payload)
                if env.patient_id is None:
                    continue
                patient_id, now = env.patient_id, utcnow()
                if isinstance(payload, contract.InactivityLimitSet):
                    limit = payload
                    await retrying(lambda: intake.change_windows(
                        patient_id, lambda held: _dump(windows.limit_set(
                            windows.State.of(held), limit))), "recording", WHO)
                    continue
                if reading is None:
                    continue
                alerts_now = rules.decide(reading, config, now)

                def step(held: dict | None) -> tuple[dict, list]:
                    try:
                        state, fired = windows.step(windows.State.of(held), patient_id,
                                                    reading, window_config, config, now)
                    except Exception as exc:  # noqa: BLE001
                        raise Undecidable(f"{type(exc).__name__}: {exc}") from exc
                    return _dump(state), [*alerts_now, *fired]

                await retrying(lambda: intake.rule_step(patient_id, reading.reading_id, step,
                                                        WORKER),
                               "recording", WHO, fatal=(Undecidable,))
            except Exception as exc:  # noqa: BLE001  (faust would ack it and go on silently)
                await dead_letter(app, event, f"{type(exc).__name__}: {exc}", WHO)

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


def _dump(state: windows.State) -> dict:
    return state.model_dump(mode="json")
