"""What the medication service is (``libs/web/manifest.py``): the events it decodes, its
projections, its composition root, its settings and its ``ehr`` commands."""

from __future__ import annotations

from typing import Any

from libs.access import events as consent_events
from libs.audit import log as audit_events
from libs.audit.facts_store import AccessFactsProjection
from libs.events.read_model import Projection
from libs.web.manifest import Manifest, TopicOf
from services.journal import contract as journal_contract
from services.medication import contract
from services.medication.commands import catalogue
from services.medication.projections.cave import CaveProjection
from services.medication.projections.lists import MedicationListsProjection
from services.medication.settings import MedicationSettings


def _projections(topic: TopicOf) -> list[Projection]:
    """``access_facts`` (consent.events), ``medication_lists`` (medication.events) and
    ``medication_cave`` (journal.events)."""
    return [AccessFactsProjection(topic("consent.events")),
            MedicationListsProjection(topic("medication.events")),
            CaveProjection(topic("journal.events"))]


def _create_app(*args: Any, **kwargs: Any) -> Any:
    from services.medication.app import create_app  # noqa: PLC0415  (app.py imports this module)

    return create_app(*args, **kwargs)


MANIFEST = Manifest(
    name="medication",
    title="The patient's medication list (PLL): prescriptions with decision support, doses "
          "given, reconciliation and review, the drug catalogue",
    # medication.events (its own), consent.events (access facts), audit.access (its access
    # log) and journal.events (critical information, CAVE)
    events=(contract, consent_events, audit_events, journal_contract),
    projections=_projections,
    create_app=_create_app,
    settings=MedicationSettings,
    port="medication_port",
    commands=(("catalogue", catalogue),),   # ehr catalogue load / show
)
