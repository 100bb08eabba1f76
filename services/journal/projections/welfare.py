"""``welfare.events`` in the journal's read model (issue 15): what welfare technology adds to
the record, folded by ``JournalRecordsProjection`` in the same transaction as the journal's own
events, so the runner applies each exactly once and a rebuild replays both topics.

- ``welfare.TaskCreated`` and ``welfare.AlertRaised`` become rows of ``journal_tasks`` (the
  responsible unit's worklist), with the alert's code, severity, state and escalation level;
  acknowledged (the task is assigned), on the way, escalated (due again by the new time) and
  resolved (the task is completed) follow the alert by its ``alert_id``.
- ``welfare.MeasurementReceived``, and a quarantined measurement once ``welfare.QuarantineReleased``
  arrives, become ``journal_observations`` rows (one per component: a blood pressure gives its
  systolic and diastolic values) and FHIR Observation versions, performed by the device.
  Quarantined readings (``welfare.ReadingQuarantined``) are never used.

The journal never calls the welfare service: it reads its contract's events from Kafka.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import NamedTuple
from uuid import UUID, uuid5

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.events.envelope import Envelope
from libs.events.registry import EventPayload
from services.journal.domain.clinical_state import Observation, Version
from services.journal.domain.patients import Patient
from services.journal.fhir.clinical import observation as fhir_observation
from services.welfare import contract as w

ALERT_EVENTS = (w.AlertAcknowledged, w.AlertEnRoute, w.AlertEscalated, w.AlertResolved)
TASK_EVENTS = (w.TaskCreated, w.AlertRaised, *ALERT_EVENTS)
"""With ``MeasurementReceived`` and ``QuarantineReleased`` the welfare events the journal
folds; every other one on the topic is skipped."""


SETUP = ("""CREATE INDEX IF NOT EXISTS journal_tasks_alert
              ON journal_tasks ((doc->>'alert_id'))""",)
"""Run by ``JournalRecordsProjection.setup``: an alert's steps find its task by ``alert_id``."""

Label = Callable[[Patient], dict]


def is_welfare(payload: EventPayload) -> bool:
    """An event of the welfare contract (the topic's other events are skipped)."""
    return type(payload).__module__ == w.__name__


def observations_of(m: w.Measurement) -> list[Observation]:
    """A device's measurement as the journal's observations, one per value; the ids follow
    from the reading's, so a replay writes the same rows."""
    return [Observation(observation_id=uuid5(m.reading_id, c.code), code=c.code, ucum=c.ucum,
                        effective_at=m.effective_at, device=m.device,
                        versions=(Version(by=m.device, unit="", at=m.received_at,
                                          value=c.value),))
            for c in m.components]


def measurement_of(payload: EventPayload) -> w.Measurement | None:
    """The measurement the record takes from this event: accepted, or released from
    quarantine; None for anything else (events, alarms, quarantined readings)."""
    if isinstance(payload, (w.MeasurementReceived, w.QuarantineReleased)) \
            and isinstance(payload.reading, w.Measurement):
        return payload.reading
    return None


def fold_task(doc: dict | None, payload: EventPayload) -> dict | None:
    """A worklist row (``journal_tasks.doc``) after one welfare event; None when the event
    is about an alert this row does not know."""
    if isinstance(payload, w.TaskCreated):
        return (doc or {"status": "requested", "assignee": None}) | {
            "source": "welfare", "task_id": str(payload.task_id), "kind": payload.kind,
            "title": payload.title, "unit": payload.unit,
            "due_at": (doc or {}).get("due_at") or payload.due_at.isoformat(),
            "created_at": payload.created_at.isoformat(),
            "reading_ids": [str(r) for r in payload.reading_ids]}
    if isinstance(payload, w.AlertRaised):
        base = doc or {"source": "welfare", "task_id": str(payload.task_id), "kind": "response",
                       "title": payload.display, "unit": payload.unit, "status": "requested",
                       "assignee": None, "created_at": payload.raised_at.isoformat(),
                       "reading_ids": [str(payload.reading_id)]}
        return base | {"due_at": payload.due_at.isoformat(), "alert_id": str(payload.alert_id),
                       "severity": payload.severity, "alert": {
                           "code": payload.code, "system": payload.system,
                           "display": payload.display, "state": "raised", "level": 0,
                           "occurred_at": payload.occurred_at.isoformat()}}
    if doc is None or "alert" not in doc:
        return None
    alert = dict(doc["alert"])
    if isinstance(payload, w.AlertAcknowledged):
        alert |= {"state": "acknowledged", "acknowledged_by": payload.by,
                  "acknowledged_at": payload.acknowledged_at.isoformat()}
        return doc | {"alert": alert, "assignee": payload.by}
    if isinstance(payload, w.AlertEnRoute):   # "on my way"
        alert |= {"state": "en_route", "en_route_by": payload.by,
                  "en_route_at": payload.en_route_at.isoformat()}
        return doc | {"alert": alert}
    if isinstance(payload, w.AlertEscalated):
        alert |= {"state": "escalated", "level": payload.level,
                  "escalated_at": payload.escalated_at.isoformat()}
        return doc | {"alert": alert, "due_at": payload.due_at.isoformat()}
    if isinstance(payload, w.AlertResolved):
        alert |= {"state": "resolved", "note": payload.note}
        return doc | {"alert": alert, "status": "completed", "completed_by": payload.by,
                      "completed_at": payload.resolved_at.isoformat()}
    return doc


class Folded(NamedTuple):
    """What a batch's welfare events change, for ``records.py`` to write with its own rows:
    worklist rows (as ``_write_tasks`` builds them), new observations by id (patient,
    observation) and their FHIR versions."""

    tasks: list[tuple]
    observations: dict[UUID, tuple[UUID, Observation]]
    fhir: list[tuple]


async def fold_welfare(conn: AsyncConnection, events: Sequence[tuple[Envelope, EventPayload]],
                       label: Label) -> Folded:
    """Fold one batch's welfare events (after its journal events: a task shows the patient's
    name as it is now). ``label(patient)`` is what the worklist shows about a patient."""
    tasks = await _tasks(conn, [(e, p) for e, p in events if isinstance(p, TASK_EVENTS)], label)
    made = {o.observation_id: (env, o) for env, p in events
            if (m := measurement_of(p)) is not None for o in observations_of(m)}
    held = {r[0] for r in await conn.execute(text(
        "SELECT observation_id FROM journal_observations WHERE observation_id = ANY(:ids)"),
        {"ids": list(made)})} if made else set()
    new = {oid: v for oid, v in made.items() if oid not in held}   # a repeat changes nothing
    return Folded(tasks, {oid: (env.patient_id, o) for oid, (env, o) in new.items()},
                  [("Observation", str(oid), env.patient_id, env.recorded_at,
                    fhir_observation(Patient.unknown(env.patient_id), o))
                   for oid, (env, o) in new.items()])


async def _tasks(conn: AsyncConnection, events: list, label: Label) -> list[tuple]:
    if not events:
        return []
    task_ids = [p.task_id for _, p in events if isinstance(p, (w.TaskCreated, w.AlertRaised))]
    alert_ids = [str(p.alert_id) for _, p in events if isinstance(p, ALERT_EVENTS)]
    rows = await conn.execute(text("""
        SELECT task_id, patient_id, doc::text FROM journal_tasks
         WHERE task_id = ANY(:t) OR doc->>'alert_id' = ANY(:a) FOR UPDATE"""),
        {"t": task_ids, "a": alert_ids})
    docs: dict[UUID, tuple[UUID, dict]] = {r[0]: (r[1], json.loads(r[2])) for r in rows}
    by_alert = {d["alert_id"]: tid for tid, (_, d) in docs.items() if "alert_id" in d}
    touched: set[UUID] = set()
    for env, p in events:
        tid = p.task_id if isinstance(p, (w.TaskCreated, w.AlertRaised)) \
            else by_alert.get(str(p.alert_id))
        doc = fold_task(docs[tid][1] if tid in docs else None, p) if tid else None
        if doc is None:
            continue
        docs[tid] = (env.patient_id, doc)
        touched.add(tid)
        if "alert_id" in doc:
            by_alert[doc["alert_id"]] = tid
    if not touched:
        return []
    records = await conn.execute(text(
        "SELECT patient_id, doc::text FROM journal_records WHERE patient_id = ANY(:p)"),
        {"p": list({docs[t][0] for t in touched})})
    labels = {r[0]: label(Patient.model_validate_json(r[1])) for r in records}
    out = []
    for tid in touched:
        patient_id, doc = docs[tid]
        doc = doc | {"patient_id": str(patient_id), "patient": labels.get(patient_id)}
        out.append((tid, patient_id, doc["unit"], doc.get("assignee"),
                    datetime.fromisoformat(doc["due_at"]), doc["status"], json.dumps(doc)))
    return out
