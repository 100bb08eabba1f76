"""Composition root of the registry export's API: settings in, a FastAPI app out.

On start it migrates its schema and runs, in this process: the outbox relay (its own events,
``registry.events``), the ``registry_identities`` projection, and a reader of the faust
worker's parts in PostgreSQL (``state.PersonsView``) that every request brings up to date, so
a table follows the stream within moments. The faust worker runs here too
(``EHR_REGISTRY_WORKER_IN_API``, the default), or apart with ``ehr registry worker``.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from libs.access.dev_issuer import DevIssuer
from libs.config import Settings
from libs.web.service import Options, ServiceRuntime, service_app
from services.registry_export import http
from services.registry_export.http.auth import AnalystTokens
from services.registry_export.manifest import MANIFEST
from services.registry_export.settings import RegistryExportSettings
from services.registry_export.state import PersonsView
from services.registry_export.worker import SOURCES, build_worker

__all__ = ["Options", "create_app"]


def create_app(settings: Settings | None = None, options: Options | None = None) -> FastAPI:
    settings = RegistryExportSettings.for_service(settings)
    opts = options or Options()
    rounding = settings.rounding()   # refused here, before anything starts, without its key

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with ServiceRuntime(settings, opts, MANIFEST) as rt:
            app.state.store = rt.store
            app.state.tokens = AnalystTokens(settings, keys=None if settings.jwks else
                                             DevIssuer.from_settings(settings).jwks())
            app.state.clock = opts.clock
            app.state.min_cell = settings.registry_min_cell
            app.state.rounding = rounding
            app.state.out_dir = settings.registry_out_dir
            worker = None
            if settings.registry_worker_in_api and opts.background:
                worker = build_worker(settings, rt.registry, schema=rt.schema,
                                      engine=rt.engine,
                                      topics={s: opts.topic(s) for s in SOURCES},
                                      app_id=settings.registry_app_id,
                                      partitions=settings.registry_partitions,
                                      web_enabled=False)   # the API is this process's web
                await worker.start()
            app.state.persons = PersonsView(rt.engine, settings.registry_app_id)
            await app.state.persons.start()
            try:
                yield
            finally:
                await app.state.persons.stop()
                if worker is not None:
                    await worker.stop()

    app = service_app(settings, opts, MANIFEST.name, lifespan, title="Registry export",
                      description="For analysts: the published statistics of the "
                                  "municipality's care services (JSON-stat 2.0, CSV), research "
                                  "releases (Parquet), and their catalogue (DCAT-AP-NO shaped).")
    for router in http.routers:
        app.include_router(router)
    return app
