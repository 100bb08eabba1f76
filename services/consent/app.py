"""Composition root of the consent service: settings in, a FastAPI app out.

On start it migrates its schema, then runs, in this process: the outbox relay (one leader per
schema across replicas), its projections (``access_facts``, ``access_log``, and the bridge that
turns the journal's episodes and service decisions into care relations) and the access logger
(``libs/web/service.py``). Nothing connects at import time.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from libs.access.dev_issuer import DevIssuer
from libs.access.facts_projection import AccessFactsProjection
from libs.config import Settings, get_settings
from libs.web.service import Options, ServiceRuntime, service_app
from services.consent.domain import Refused
from services.consent.handlers import PatientAccessStore
from services.consent.journal_bridge import JournalBridge
from services.consent.projections import AccessLogProjection

SERVICE = "consent"
__all__ = ["Options", "create_app"]


def create_app(settings: Settings | None = None, options: Options | None = None) -> FastAPI:
    settings = settings or get_settings()
    opts = options or Options()
    projections = [AccessFactsProjection(opts.topic("consent.events")),
                   AccessLogProjection(opts.topic("audit.access"), opts.topic("consent.events")),
                   JournalBridge(opts.topic("journal.events"), opts.topic_names)]

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with ServiceRuntime(settings, opts, SERVICE, projections) as rt:
            app.state.settings, app.state.engine, app.state.store = settings, rt.engine, rt.store
            app.state.runners = rt.runners
            app.state.patients = PatientAccessStore(rt.store)
            await app.state.patients.setup()
            app.state.access = rt.access()
            yield

    app = service_app(settings, opts, SERVICE, lifespan, title="Consent and access",
                      description="Care relations, consents, blocks, restricted entries, "
                                  "emergency access, proxies and the access log (DESIGN.md §4).",
                      refused=Refused)

    from services.consent import api, fhir_api
    app.include_router(api.router)
    app.include_router(fhir_api.router)
    if settings.environment != "production" and not settings.jwks:
        @app.get("/.well-known/jwks.json", include_in_schema=False)
        def dev_jwks() -> dict:
            """The development issuer's public keys, for other local services."""
            return DevIssuer.from_settings(settings).jwks()
    return app
