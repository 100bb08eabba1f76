"""A person's alerts for health personnel: read them, acknowledge one (it stops escalating),
resolve it with what was done. Each step is an event, guarded and logged."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends

from libs.access.model import Action
from libs.kernel.errors import Conflict
from libs.web.guard import Grant, actor_of, guarded
from libs.web.routing import PathRouter
from services.welfare.domain import alerts
from services.welfare.http.deps import CATEGORY, CoverageWrite, IntakeDep, Reader

router = PathRouter(tags=["alerts"])
ALERT = "/patients/{patient_id}/alerts/{alert_id}"
Read = Annotated[Grant, Depends(guarded(Action.read, CATEGORY))]


@router.get("/patients/{patient_id}/alerts")
async def read_alerts(patient_id: UUID, grant: Read, reader: Reader) -> dict[str, Any]:
    """Open alerts first, newest first; each with its status, escalation level and due time."""
    return {"alerts": await reader.alerts(patient_id)}


async def _step(patient_id: UUID, alert_id: UUID, step: str, w, store, decide):
    entries = await store.alert_entries(patient_id, alert_id)
    payloads = decide(entries)
    result = await store.alert_step(patient_id, alert_id, step, payloads, actor_of(w.subject))
    if result is None:
        raise Conflict(f"The alert is already {step}.")
    return w.answer(result, status=200, body={"alert_id": str(alert_id), "status": step})


@router.post(ALERT + "/acknowledge", status_code=200)
async def acknowledge(patient_id: UUID, alert_id: UUID, w: CoverageWrite, store: IntakeDep):
    """I have it: the alert stops escalating."""
    return await _step(patient_id, alert_id, "acknowledged", w, store, lambda e: (
        alerts.acknowledge(e, alert_id, w.actor.hpr, w.actor.unit, w.now)))


@router.post(ALERT + "/resolve", status_code=200)
async def resolve(patient_id: UUID, alert_id: UUID, body: alerts.Resolve, w: CoverageWrite,
                  store: IntakeDep):
    """Handled: the alert closes, with what was done."""
    return await _step(patient_id, alert_id, "resolved", w, store, lambda e: (
        alerts.resolve(e, alert_id, body, w.actor.hpr, w.actor.unit, w.now)))
