"""What the welfare service is (``libs/web/manifest.py``): the events it decodes, its
projections, its composition root and its settings."""

from __future__ import annotations

from typing import Any

from libs.access import events as consent_events
from libs.audit import log as audit_events
from libs.audit.facts_store import AccessFactsProjection
from libs.events.read_model import Projection
from libs.web.manifest import Manifest, TopicOf
from services.welfare import contract
from services.welfare.commands import welfare
from services.welfare.projections.devices import DevicesProjection
from services.welfare.projections.readings import ReadingsProjection
from services.welfare.settings import WelfareSettings


def _projections(topic: TopicOf) -> list[Projection]:
    """``access_facts`` and ``welfare_devices`` (consent.events), ``welfare_readings``
    (welfare.events)."""
    return [AccessFactsProjection(topic("consent.events")),
            DevicesProjection(topic("consent.events")),
            ReadingsProjection(topic("welfare.events"))]


def _create_app(*args: Any, **kwargs: Any) -> Any:
    from services.welfare.app import create_app  # noqa: PLC0415  (app.py imports this module)

    return create_app(*args, **kwargs)


MANIFEST = Manifest(
    name="welfare",
    title="Welfare technology: device readings and alarms (VKP), legal bases, quarantine",
    # welfare.events (its own), consent.events (access facts, device assignments) and
    # audit.access (its access log)
    events=(contract, consent_events, audit_events),
    projections=_projections,
    create_app=_create_app,
    settings=WelfareSettings,
    port="welfare_port",
    commands=(("welfare", welfare),),   # ehr welfare worker | simulate
    stream_worker=("welfare", "worker"),
)
