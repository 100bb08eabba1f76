"""Composition root of the medication service: settings in, a FastAPI app out.

On start it migrates its schema, loads the drug catalogue (the shipped sample when the database
has none, outside production) and then runs, in this process: the outbox relay, its projections
(``access_facts`` from ``consent.events``, ``medication_lists`` from ``medication.events``,
``medication_cave`` from ``journal.events``) and the access logger (``libs/web/service.py``).
Nothing connects at import time.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from libs.access.facts_projection import AccessFactsProjection
from libs.config import Settings, get_settings
from libs.web.errors import FhirJSONResponse, code_for_status, outcome
from libs.web.service import Options, ServiceRuntime, service_app
from services.medication import api, fhir_api
from services.medication.catalogue_store import CatalogueStore, LiveCatalogue
from services.medication.domain import Refused
from services.medication.handlers import MedicationStore
from services.medication.projections import (
    CAVE, LISTS, CaveProjection, ListReader, MedicationListsProjection,
)

SERVICE = "medication"
__all__ = ["Options", "create_app"]


def fetch_window(settings: Settings) -> timedelta | None:
    """How recent a fetch from the prescription intermediary a change of the list needs
    (requirement 31); None where it is not required (outside production, by default)."""
    required = settings.medication_rf_fetch_required
    if required is None:
        required = settings.environment == "production"
    return timedelta(hours=settings.medication_rf_fetch_max_age_h) if required else None


def create_app(settings: Settings | None = None, options: Options | None = None) -> FastAPI:
    settings = settings or get_settings()
    opts = options or Options()
    projections = [AccessFactsProjection(opts.topic("consent.events")),
                   MedicationListsProjection(opts.topic("medication.events")),
                   CaveProjection(opts.topic("journal.events"))]

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with ServiceRuntime(settings, opts, SERVICE, projections) as rt:
            app.state.settings, app.state.engine, app.state.store = settings, rt.engine, rt.store
            app.state.runners = rt.runners
            app.state.catalogue = LiveCatalogue(
                CatalogueStore(rt.engine),
                load_sample_if_empty=settings.environment != "production")
            await app.state.catalogue.start()
            app.state.medication = MedicationStore(rt.store)
            app.state.fresh_within = fetch_window(settings)
            app.state.reader = ListReader(rt.engine)
            app.state.access = rt.access(read_models=(LISTS, CAVE))
            try:
                yield
            finally:
                await app.state.catalogue.stop()

    app = service_app(settings, opts, SERVICE, lifespan, title="Medication",
                      description="The patient's medication list (PLL) shared by everyone who "
                                  "treats the patient: prescriptions, renewals, pauses and "
                                  "discontinuations with decision support, doses given, "
                                  "reconciliation and review, the drug catalogue; FHIR R4.",
                      refused=Refused)

    @app.exception_handler(Refused)
    async def _refused(request, exc: Refused):
        """A refusal as an OperationOutcome; the decision-support warnings that made it
        (an "avoid" without a reason) follow as issues of severity ``warning``."""
        body = outcome(code_for_status(exc.status), exc.message)
        body["issue"] += [{"severity": "warning", "code": "business-rule",
                           "diagnostics": w.message,
                           "details": {"text": f"{w.kind}:{w.level}"}} for w in exc.warnings]
        return FhirJSONResponse(body, status_code=exc.status)

    app.include_router(api.router)
    app.include_router(fhir_api.router)
    return app
