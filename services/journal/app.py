"""Composition root of the journal service: settings in, a FastAPI app out. The only module of
the service that reads settings and builds adapters.

On start it migrates its schema, then runs, in this process: the outbox relay (one leader per
schema across replicas), its projections (``access_facts`` from ``consent.events``,
``journal_records`` from ``journal.events``; ``manifest.py``) and the access logger
(``libs/web/service.py``). Nothing connects at import time.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from libs.config import Settings
from libs.web.service import Options, ServiceRuntime, service_app
from services.journal.http import routers
from services.journal.manifest import MANIFEST
from services.journal.projections.reader import RecordReader
from services.journal.projections.records import NAME as RECORDS
from services.journal.settings import JournalSettings
from services.journal.store import JournalStore

__all__ = ["Options", "create_app"]


def create_app(settings: Settings | None = None, options: Options | None = None) -> FastAPI:
    settings = JournalSettings.for_service(settings)
    opts = options or Options()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with ServiceRuntime(settings, opts, MANIFEST) as rt:
            app.state.settings, app.state.engine, app.state.store = settings, rt.engine, rt.store
            app.state.runners = rt.runners
            app.state.journal = JournalStore(rt.store)
            await app.state.journal.setup()
            app.state.reader = RecordReader(rt.engine)
            app.state.access = rt.access(read_models=(RECORDS,))
            yield

    app = service_app(settings, opts, MANIFEST.name, lifespan, title="Journal",
                      description="The shared clinical record: patients, episodes and service "
                                  "decisions, notes, vital signs, diagnoses, critical "
                                  "information, care plans, tasks and worklists; FHIR R4.")
    for router in routers:
        app.include_router(router)
    return app
