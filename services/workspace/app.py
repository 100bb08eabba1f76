"""Composition root of the clinician's workspace: settings in, a FastAPI app out. The only
module of the service that reads settings and builds adapters.

On start it migrates its schema, prepares its sign-in tables and opens clients to the journal,
the medication service and the consent service (each page calls them with the clinician's own
token). Sign-in is OIDC against ``EHR_WORKSPACE_OIDC_ISSUER_URL`` (HelseID); outside
production, without one, against the development issuer's clinician picker mounted at
``/dev-helseid``. Production refuses to start without an issuer.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from libs.access.dev_issuer import DevIssuer
from libs.access.tokens import TokenConfigError
from libs.config import Settings
from libs.web.dev_login import TestClinician, dev_helseid_router
from libs.web.service import Options, ServiceRuntime, service_app, validator_for
from services.workspace import http
from services.workspace.http.auth import OidcClient
from services.workspace.http.backends import Backends
from services.workspace.http.pages import HERE, install_page_handlers
from services.workspace.manifest import MANIFEST
from services.workspace.settings import WorkspaceSettings
from services.workspace.store import Sessions

__all__ = ["DEV_PATH", "TEST_CLINICIANS", "Options", "create_app"]

DEV_PATH = "/dev-helseid"
MUNICIPALITY, HOME_CARE, LEGEVAKT, LEGEVAKT_ORG = "123456785", "974600978", "987654325", \
    "999999999"
# the demo's clinicians (``ehr seed demo``): the development sign-in offers them by name
TEST_CLINICIANS = (
    TestClinician("Nina Sykepleier", "sykepleier, hjemmetjenesten", "9144889", MUNICIPALITY,
                  HOME_CARE, ("nurse",)),
    TestClinician("Lege Tilsynslege", "lege, hjemmetjenesten", "7123456", MUNICIPALITY,
                  HOME_CARE, ("physician", "prescriber")),
    TestClinician("Lege Legevakt", "lege, legevakten", "1112223", LEGEVAKT_ORG, LEGEVAKT,
                  ("physician",)),
)


def issuer_url(settings: WorkspaceSettings) -> str:
    if settings.workspace_oidc_issuer_url:
        return settings.workspace_oidc_issuer_url.rstrip("/")
    if settings.environment == "production":
        raise TokenConfigError("EHR_WORKSPACE_OIDC_ISSUER_URL must name HelseID in production; "
                               "the development issuer is never used there")
    return settings.workspace_public_url.rstrip("/") + DEV_PATH


def create_app(settings: Settings | None = None, options: Options | None = None) -> FastAPI:
    settings = WorkspaceSettings.for_service(settings)
    opts = options or Options()
    oidc_url = issuer_url(settings)
    redirect_uri = settings.workspace_public_url.rstrip("/") + "/callback"

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        def client(url: str) -> httpx.AsyncClient:
            return httpx.AsyncClient(base_url=url, timeout=15)

        async with ServiceRuntime(settings, opts, MANIFEST) as rt, \
                client(settings.workspace_journal_url) as journal, \
                client(settings.workspace_medication_url) as medication, \
                client(settings.workspace_consent_url) as consent, \
                httpx.AsyncClient() as oidc_http:
            app.state.clock = opts.clock or (lambda: datetime.now(UTC))
            app.state.validator = opts.validator or validator_for(settings)
            app.state.sessions = Sessions(rt.engine,
                                          timedelta(minutes=settings.workspace_session_idle_min))
            await app.state.sessions.setup()
            app.state.backends = Backends(journal, medication, consent)
            app.state.oidc = OidcClient(oidc_url, settings.workspace_oidc_client_id,
                                        redirect_uri, settings.workspace_oidc_client_secret,
                                        oidc_http)
            yield

    app = service_app(settings, opts, MANIFEST.name, lifespan, title="Workspace",
                      description="The clinician's workspace: today's worklist, the patient at "
                                  "the door and the visit, on the journal's and the medication "
                                  "service's APIs with the clinician's own HelseID token.")
    for router in http.routers:
        app.include_router(router)
    install_page_handlers(app)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    if not settings.workspace_oidc_issuer_url and settings.environment != "production":
        app.include_router(dev_helseid_router(
            DevIssuer.from_settings(settings),
            {settings.workspace_oidc_client_id: (redirect_uri,)}, TEST_CLINICIANS,
            prefix=DEV_PATH))
    return app
