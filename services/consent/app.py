"""Composition root of the consent service: settings in, a FastAPI app out. The only module of
the service that reads settings and builds adapters.

On start it migrates its schema, then runs, in this process: the outbox relay (one leader per
schema across replicas), its projections (``access_facts``, ``access_log``, and the bridge that
turns the journal's episodes and service decisions into care relations; ``manifest.py``) and
the access logger (``libs/web/service.py``). Nothing connects at import time.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from libs.access.dev_issuer import DevIssuer
from libs.config import Settings
from libs.web.dev_jwks import jwks_router
from libs.web.service import Options, ServiceRuntime, service_app
from services.consent.domain.relations import RelationRules
from services.consent.http import routers
from services.consent.manifest import MANIFEST
from services.consent.settings import ConsentSettings
from services.consent.store import PatientAccessStore

__all__ = ["Options", "create_app"]


def create_app(settings: Settings | None = None, options: Options | None = None) -> FastAPI:
    settings = ConsentSettings.for_service(settings)
    opts = options or Options()
    rules = RelationRules(
        self_declared={org: frozenset(roles)
                       for org, roles in settings.self_declared_relations.items()},
        self_declared_hours=settings.self_declared_relation_hours,
        self_declared_max_hours=settings.self_declared_relation_max_hours)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with ServiceRuntime(settings, opts, MANIFEST) as rt:
            app.state.settings, app.state.engine, app.state.store = settings, rt.engine, rt.store
            app.state.runners = rt.runners
            app.state.patients = PatientAccessStore(rt.store)
            await app.state.patients.setup()
            app.state.access = rt.access()
            yield

    app = service_app(settings, opts, MANIFEST.name, lifespan, title="Consent and access",
                      description="Care relations, consents, blocks, restricted entries, "
                                  "emergency access, proxies and the access log (DESIGN.md §4).")
    app.state.relation_rules = rules   # who may start a care relation (domain/relations.py)
    for router in routers:
        app.include_router(router)
    if settings.environment != "production" and not settings.jwks:
        app.include_router(jwks_router(DevIssuer.from_settings(settings)))
    return app
