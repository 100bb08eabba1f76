"""Composition root of the welfare service: settings in, a FastAPI app out. The only module of
the service that reads settings and builds adapters.

On start it migrates its schema and runs, in this process: the outbox relay, its projections
(``MANIFEST.projections``: ``access_facts`` and ``welfare_devices`` from ``consent.events``,
``welfare_readings`` from ``welfare.events``) and the access logger. It mounts the live alert
board (``http/board.py``) with its OIDC sign-in against ``EHR_WELFARE_OIDC_ISSUER_URL``
(HelseID); outside production, without one, the development issuer's clinician picker at
``/dev-helseid``. Production refuses to start without an issuer. Nothing connects at import
time.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI

from libs.access.dev_issuer import DevIssuer
from libs.access.tokens import TokenConfigError
from libs.config import Settings
from libs.web.oidc import OidcClient
from libs.web.service import Options, ServiceRuntime, service_app, validator_for
from services.welfare import http
from services.welfare.http import board
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
    public = settings.welfare_public_url.rstrip("/")
    if not settings.welfare_oidc_issuer_url and settings.environment == "production":
        raise TokenConfigError("EHR_WELFARE_OIDC_ISSUER_URL must name HelseID in production; "
                               "the development issuer is never used there")
    issuer = (settings.welfare_oidc_issuer_url or public + board.DEV_PATH).rstrip("/")
    redirect_uri = public + "/board/callback"

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with ServiceRuntime(settings, opts, MANIFEST) as rt, \
                httpx.AsyncClient() as oidc_http:
            app.state.clock = opts.clock or (lambda: datetime.now(UTC))
            app.state.validator = opts.validator or validator_for(settings)
            app.state.board_oidc = OidcClient(issuer, settings.welfare_oidc_client_id,
                                              redirect_uri,
                                              settings.welfare_oidc_client_secret, oidc_http)
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
                                  settings.welfare_max_backlog,
                                  reserve=settings.welfare_urgent_reserve,
                                  working=settings.welfare_max_working)
            app.state.access = rt.access(read_models=(READINGS, DEVICES))
            yield

    app = service_app(settings, opts, MANIFEST.name, lifespan, title="Welfare technology",
                      description="Readings and alarms from welfare-technology devices (VKP): "
                                  "ingestion as FHIR R4 Observation and Flag, the legal bases "
                                  "per technology, quarantine and the service owner's "
                                  "decisions.")
    for router in http.routers:
        app.include_router(router)
    board.install(app, settings.welfare_oidc_client_id, redirect_uri,
                  None if settings.welfare_oidc_issuer_url else DevIssuer.from_settings(settings))
    return app
