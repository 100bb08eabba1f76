"""Composition root of the medication service: settings in, a FastAPI app out. The only module
of the service that reads settings and builds adapters.

On start it migrates its schema, loads the drug catalogue (the shipped sample when the database
has none, outside production) and then runs, in this process: the outbox relay, its projections
(``MANIFEST.projections``: ``access_facts`` from ``consent.events``, ``medication_lists`` from
``medication.events``, ``medication_cave`` from ``journal.events``) and the access logger
(``libs/web/service.py``). Nothing connects at import time.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from libs.config import Settings
from libs.web.service import Options, ServiceRuntime, service_app
from services.medication import http
from services.medication.catalogue.store import CatalogueStore, LiveCatalogue
from services.medication.manifest import MANIFEST
from services.medication.projections.cave import CAVE
from services.medication.projections.lists import LISTS
from services.medication.projections.reader import ListReader
from services.medication.settings import MedicationSettings
from services.medication.store import MedicationStore

__all__ = ["Options", "create_app"]


def fetch_window(settings: MedicationSettings) -> timedelta | None:
    """How recent a fetch from the prescription intermediary a change of the list needs
    (requirement 31); None where it is not required (outside production, by default)."""
    required = settings.medication_rf_fetch_required
    if required is None:
        required = settings.environment == "production"
    return timedelta(hours=settings.medication_rf_fetch_max_age_h) if required else None


def create_app(settings: Settings | None = None, options: Options | None = None) -> FastAPI:
    settings = MedicationSettings.for_service(settings)
    opts = options or Options()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with ServiceRuntime(settings, opts, MANIFEST) as rt:
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

    app = service_app(settings, opts, MANIFEST.name, lifespan, title="Medication",
                      description="The patient's medication list (PLL) shared by everyone who "
                                  "treats the patient: prescriptions, renewals, pauses and "
                                  "discontinuations with decision support, doses given, "
                                  "reconciliation and review, the drug catalogue; FHIR R4.")
    for router in http.routers:
        app.include_router(router)
    return app
