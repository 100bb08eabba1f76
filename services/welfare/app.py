"""Composition root of the welfare service: settings in, a FastAPI app out. The only module of
the service that reads settings and builds adapters.

On start it migrates its schema and runs, in this process: the outbox relay, its projections
(``MANIFEST.projections``: ``access_facts`` and ``welfare_devices`` from ``consent.events``,
``welfare_readings`` from ``welfare.events``) and the access logger. Nothing connects at import
time.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from libs.config import Settings
from libs.web.service import Options, ServiceRuntime, service_app
from services.welfare import http
from services.welfare.http.deps import Config
from services.welfare.http.pressure import Gate
from services.welfare.manifest import MANIFEST
from services.welfare.projections.devices import DEVICES
from services.welfare.projections.readings import READINGS, ReadingsReader
from services.welfare.settings import WelfareSettings
from services.welfare.store import CoverageStore, Intake

__all__ = ["Options", "create_app"]


def create_app(settings: Settings | None = None, options: Options | None = None) -> FastAPI:
    settings = WelfareSettings.for_service(settings)
    opts = options or Options()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with ServiceRuntime(settings, opts, MANIFEST) as rt:
            app.state.settings, app.state.engine, app.state.store = settings, rt.engine, rt.store
            app.state.runners = rt.runners
            app.state.intake = Intake(rt.engine, rt.store)
            await app.state.intake.setup()
            app.state.coverage = CoverageStore(rt.store)
            app.state.readings = ReadingsReader(rt.engine)
            app.state.welfare = Config(
                max_batch=settings.welfare_max_batch,
                owner_unit=settings.welfare_service_owner_unit,
                review_within=timedelta(hours=settings.welfare_quarantine_review_h))
            app.state.gate = Gate(rt.engine, settings.welfare_max_in_flight,
                                  settings.welfare_max_backlog)
            app.state.access = rt.access(read_models=(READINGS, DEVICES))
            yield

    app = service_app(settings, opts, MANIFEST.name, lifespan, title="Welfare technology",
                      description="Readings and alarms from welfare-technology devices (VKP): "
                                  "ingestion as FHIR R4 Observation and Flag, the legal bases "
                                  "per technology, quarantine and the service owner's "
                                  "decisions.")
    for router in http.routers:
        app.include_router(router)
    return app
