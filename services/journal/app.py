"""Composition root of the journal service: settings in, a FastAPI app out.

On start it migrates its schema, then runs, in this process: the outbox relay (one leader per
schema across replicas), its projections (``access_facts`` from ``consent.events``,
``journal_records`` from ``journal.events``) and the access logger (``libs/web/service.py``).
Nothing connects at import time.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from libs.access.facts_projection import AccessFactsProjection
from libs.config import Settings, get_settings
from libs.web.service import Options, ServiceRuntime, service_app
from services.journal import api, fhir_api, messages_api, process_api
from services.journal.domain import Refused
from services.journal.handlers import JournalStore
from services.journal.projections import NAME as RECORDS
from services.journal.projections import JournalRecordsProjection, RecordReader

SERVICE = "journal"
__all__ = ["Options", "create_app"]


def create_app(settings: Settings | None = None, options: Options | None = None) -> FastAPI:
    settings = settings or get_settings()
    opts = options or Options()
    projections = [AccessFactsProjection(opts.topic("consent.events")),
                   JournalRecordsProjection(opts.topic("journal.events"))]

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with ServiceRuntime(settings, opts, SERVICE, projections) as rt:
            app.state.settings, app.state.engine, app.state.store = settings, rt.engine, rt.store
            app.state.runners = rt.runners
            app.state.journal = JournalStore(rt.store)
            await app.state.journal.setup()
            await messages_api.setup(rt.engine)
            app.state.reader = RecordReader(rt.engine)
            app.state.access = rt.access(read_models=(RECORDS,))
            yield

    app = service_app(settings, opts, SERVICE, lifespan, title="Journal",
                      description="The shared clinical record: patients, episodes and service "
                                  "decisions, notes, vital signs, diagnoses, critical "
                                  "information, care plans, tasks and worklists; FHIR R4.",
                      refused=Refused)

    app.include_router(api.router)
    app.include_router(process_api.router)
    app.include_router(messages_api.router)
    app.include_router(fhir_api.router)
    return app
