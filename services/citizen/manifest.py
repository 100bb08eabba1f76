"""What the citizen service is (``libs/web/manifest.py``): the events it decodes, its
projections, its composition root, its settings and its ``ehr`` commands."""

from __future__ import annotations

from typing import Any

from libs.access import events as consent_events
from libs.audit import log as audit_events
from libs.audit.facts_store import AccessFactsProjection
from libs.events.read_model import Projection
from libs.web.manifest import Manifest, TopicOf
from services.citizen import contract
from services.citizen.commands import directory
from services.citizen.projections.looked import LookedProjection
from services.citizen.projections.medicines import MedicinesProjection
from services.citizen.projections.messages import MessagesProjection
from services.citizen.projections.notifications import NotificationsProjection
from services.citizen.projections.record import RecordProjection
from services.citizen.settings import CitizenSettings
from services.journal import contract as journal_contract
from services.medication import contract as medication_contract
from services.welfare import contract as welfare_contract


def _projections(topic: TopicOf) -> list[Projection]:
    """``access_facts`` and ``citizen_notifications`` (consent.events), ``citizen_record``
    (journal.events, and welfare.events for measurements) and ``citizen_messages``
    (journal.events), ``citizen_medicines`` (medication.events) and ``citizen_looked``
    (audit.access)."""
    return [AccessFactsProjection(topic("consent.events")),
            NotificationsProjection(topic("consent.events")),
            RecordProjection(topic("journal.events"), topic("welfare.events")),
            MessagesProjection(topic("journal.events")),
            MedicinesProjection(topic("medication.events")),
            LookedProjection(topic("audit.access"))]


def _create_app(*args: Any, **kwargs: Any) -> Any:
    from services.citizen.app import create_app  # noqa: PLC0415  (app.py imports this module)

    return create_app(*args, **kwargs)


MANIFEST = Manifest(
    name="citizen",
    title="The citizen's side of the record: my record, my medicines, who looked, my choices",
    events=(contract, consent_events, audit_events, journal_contract, medication_contract,
            welfare_contract),   # welfare.events: measurements in citizen_record
    projections=_projections,
    create_app=_create_app,
    settings=CitizenSettings,
    port="citizen_port",
    commands=(("directory", directory),),   # ehr directory load / show
)
