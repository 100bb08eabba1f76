""""On my way" for an alert, beside acknowledge and resolve (``alerts``): the clinician who
acknowledged it is going to the person. An event, guarded and logged like the other steps."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID


from libs.events.registry import EventPayload
from libs.kernel.errors import Conflict
from libs.web.routing import PathRouter
from services.welfare import contract as ev
from services.welfare.domain import alerts
from services.welfare.http.alerts import ALERT, _step
from services.welfare.http.deps import CoverageWrite, IntakeDep

router = PathRouter(tags=["alerts"])


def en_route(entries: list[EventPayload], alert_id: UUID, hpr: str, unit: str,
             now: datetime) -> list[EventPayload]:
    """Only an acknowledged alert: a raised one is acknowledged first (it stops escalating),
    a resolved one is closed."""
    status = alerts.status_of(entries, alert_id)
    if status != "acknowledged":
        raise Conflict("Acknowledge the alert first." if status == "raised"
                       else "The alert is already resolved.")
    return [ev.AlertEnRoute(alert_id=alert_id, by=hpr, unit=unit, en_route_at=now)]


@router.post(ALERT + "/on-my-way", status_code=200)
async def on_my_way(patient_id: UUID, alert_id: UUID, w: CoverageWrite, store: IntakeDep):
    """I am on my way to the person."""
    return await _step(patient_id, alert_id, "en_route", w, store, lambda e: (
        en_route(e, alert_id, w.actor.hpr, w.actor.unit, w.now)))
