"""Composition root of the citizen service: settings in, a FastAPI app out. The only module of
the service that reads settings and builds adapters.

On start it migrates its schema, loads the directory sample when the directory is empty
(outside production), prepares its sign-in tables and runs, in this process: the outbox relay
(its access log), its projections (``MANIFEST.projections``) and the access logger. Sign-in is
OIDC against ``EHR_CITIZEN_OIDC_ISSUER_URL``; outside production, without one, against the
development issuer mounted at ``/dev-issuer``. Production refuses to start without an issuer.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import date, timedelta

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from libs.access.dev_issuer import DevIssuer
from libs.access.tokens import TokenConfigError
from libs.config import Settings
from libs.kernel.identifiers import synthetic_number
from libs.web.dev_login import SyntheticPerson, dev_login_router
from libs.web.service import Options, ServiceRuntime, service_app
from services.citizen import directory, http, notifications
from services.citizen.http.auth import OidcClient
from services.citizen.http.pages import HERE, install_page_handlers
from services.citizen.manifest import MANIFEST
from services.citizen.projections.medicines import MEDICINES
from services.citizen.projections.messages import MESSAGES
from services.citizen.projections.reader import Reader
from services.citizen.projections.record import RECORD
from services.citizen.settings import CitizenSettings
from services.citizen.drafts import Drafts
from services.citizen.store import Sessions

__all__ = ["Options", "create_app"]

DEV_PATH = "/dev-issuer"
# the demo's people (``ehr seed demo``): the development sign-in offers them by name
TEST_PEOPLE = (("Kari Nordmann", date(1941, 3, 14), 0), ("Ola Nordmann", date(1938, 11, 2), 0),
               ("Ingrid Hansen", date(1985, 5, 15), 1))


def issuer_url(settings: CitizenSettings) -> str:
    if settings.citizen_oidc_issuer_url:
        return settings.citizen_oidc_issuer_url.rstrip("/")
    if settings.environment == "production":
        raise TokenConfigError("EHR_CITIZEN_OIDC_ISSUER_URL must name ID-porten in production; "
                               "the development issuer is never used there")
    return settings.citizen_public_url.rstrip("/") + DEV_PATH


def create_app(settings: Settings | None = None, options: Options | None = None) -> FastAPI:
    settings = CitizenSettings.for_service(settings)
    opts = options or Options()
    public = settings.citizen_public_url.rstrip("/")
    oidc_url = issuer_url(settings)
    redirect_uri = f"{public}/callback"

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with ServiceRuntime(settings, opts, MANIFEST) as rt, \
                httpx.AsyncClient(base_url=settings.citizen_consent_url, timeout=15) as consent, \
                httpx.AsyncClient(base_url=settings.citizen_journal_url, timeout=15) as journal, \
                httpx.AsyncClient() as oidc_http:
            if settings.environment != "production":
                await directory.load_sample_if_empty(rt.engine)
            else:
                await directory.setup(rt.engine)
            app.state.settings, app.state.engine = settings, rt.engine
            app.state.runners = rt.runners
            # not LOOKED: an access entry is nobody's write to wait for, and that read
            # model keeps no event ids (``Projection.idempotent``)
            app.state.access = rt.access(read_models=(RECORD, MEDICINES, MESSAGES))
            app.state.reader = Reader(rt.engine,
                                      timedelta(hours=settings.citizen_note_hold_back_h))
            app.state.hold_back_h = settings.citizen_note_hold_back_h
            app.state.sessions = Sessions(rt.engine,
                                          timedelta(minutes=settings.citizen_session_idle_min))
            await app.state.sessions.setup()
            app.state.drafts = Drafts(rt.engine)
            await app.state.drafts.setup()
            app.state.consent, app.state.journal = consent, journal
            app.state.oidc = OidcClient(oidc_url, settings.citizen_oidc_client_id, redirect_uri,
                                        settings.citizen_oidc_client_secret, oidc_http)
            await notifications.setup_contacts(rt.engine)
            mailer = notifications.SmtpMailer(
                settings.citizen_smtp_host, settings.citizen_smtp_port,
                settings.citizen_mail_from) if settings.citizen_smtp_host else None
            notifier = notifications.Notifier(
                rt.engine, app.state.access.reader, mailer, public, app.state.access.now,
                expiry_notice=timedelta(days=settings.citizen_consent_expiry_notice_days),
                expiry_check_s=settings.citizen_consent_expiry_check_s)
            app.state.notifier = notifier
            # in every API process, also `ehr run api` (no relay, no projections): replicas
            # share its queue (SKIP LOCKED), and the chart runs no other process for it
            task = asyncio.create_task(notifier.run())
            try:
                yield
            finally:
                notifier.stop()
                await task

    app = service_app(settings, opts, MANIFEST.name, lifespan, title="Citizen",
                      description="The citizen's side of the record: what is shared with me, "
                                  "my medicines, who looked at my record, my choices; the "
                                  "portal and an API for citizen apps (ID-porten, LoA high).")
    for router in http.routers:
        app.include_router(router)
    install_page_handlers(app)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    if not settings.citizen_oidc_issuer_url and settings.environment != "production":
        people = [SyntheticPerson(name, synthetic_number(born, slot))
                  for name, born, slot in TEST_PEOPLE]
        app.include_router(dev_login_router(
            DevIssuer.from_settings(settings),
            {settings.citizen_oidc_client_id: (redirect_uri,)}, people, prefix=DEV_PATH))
    return app
