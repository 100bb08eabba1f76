"""What the journal service is (``libs/web/manifest.py``): the events it decodes, its
projections, its composition root, its settings and its ``ehr`` commands."""

from __future__ import annotations

from typing import Any

from libs.access import events as consent_events
from libs.audit.facts_store import AccessFactsProjection
from libs.events.read_model import Projection
from libs.web.manifest import Manifest, TopicOf
from services.journal import contract
from services.journal.commands import importer
from services.journal.projections.records import JournalRecordsProjection
from services.journal.settings import JournalSettings
from services.welfare import contract as welfare_contract


def _projections(topic_of: TopicOf) -> list[Projection]:
    return [AccessFactsProjection(topic_of("consent.events")),
            JournalRecordsProjection(topic_of("journal.events"), topic_of("welfare.events"))]


def _create_app(*args: Any, **kwargs: Any) -> Any:
    from services.journal.app import create_app  # noqa: PLC0415  (app.py imports this module)

    return create_app(*args, **kwargs)


MANIFEST = Manifest(
    name="journal",
    title="Journal: patients, episodes and service decisions, the clinical record, care plans, "
          "tasks, messages; FHIR R4",
    # journal.events (its own contract), consent.events (the access facts) and welfare.events
    # (welfare technology's tasks, alerts and measurements: projections/welfare.py)
    events=(contract, consent_events, welfare_contract),
    projections=_projections,
    create_app=_create_app,
    settings=JournalSettings,
    port="journal_port",
    commands=(("import", importer),),   # ehr import synthea FOLDER
)
