"""Composition root of the consent service: settings in, a FastAPI app out.

On start it migrates its schema, then runs, in this process: the outbox relay (one leader per
schema across replicas), its projections (``access_facts``, ``access_log``) and the access
logger. Nothing connects at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from fastapi import FastAPI

from libs.access.audit import AccessLogger
from libs.access.dev_issuer import DevIssuer, dev_validator
from libs.access.facts_projection import AccessFactsProjection, FactsReader
from libs.access.guard import Access, install_access_handlers
from libs.access.tokens import TokenValidator
from libs.config import Settings, get_settings
from libs.events.db import make_engine
from libs.events.migrations import run_migrations
from libs.events.projection import ProjectionRunner
from libs.events.relay import OutboxRelay
from libs.events.store import EventStore
from libs.telemetry import instrument_engine, setup_telemetry
from libs.web.errors import code_for_status, install_error_handlers, outcome_response
from services.consent.domain import Refused
from services.consent.handlers import PatientAccessStore
from services.consent.projections import AccessLogProjection

SERVICE = "consent"


@dataclass
class Options:
    """What tests and operators may change besides settings."""

    schema: str = SERVICE
    topic_names: Mapping[str, str] = field(default_factory=dict)
    validator: TokenValidator | None = None
    clock: Callable[[], datetime] | None = None
    background: bool = True   # relay and projections in this process
    telemetry: bool = True    # traces, metrics, JSON logs (libs/telemetry)


def topic(opts: Options, name: str) -> str:
    return opts.topic_names.get(name, name)


def validator_for(settings: Settings) -> TokenValidator:
    """The configured JWKS; without one, the development issuer (refused in production)."""
    return TokenValidator(settings) if settings.jwks else dev_validator(settings)


def create_app(settings: Settings | None = None, options: Options | None = None) -> FastAPI:
    settings = settings or get_settings()
    opts = options or Options()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        url = settings.effective_database_url
        await run_migrations(url, opts.schema)
        engine = make_engine(url, opts.schema)
        if opts.telemetry:
            instrument_engine(engine)
        store = EventStore(engine, topic_names=opts.topic_names)
        logger = AccessLogger(engine, SERVICE, store=store)
        app.state.settings = settings
        app.state.engine = engine
        app.state.store = store
        app.state.patients = PatientAccessStore(store)
        await app.state.patients.setup()
        app.state.access = Access(SERVICE, opts.validator or validator_for(settings),
                                  FactsReader(engine), logger, opts.clock,
                                  settings.consistency_wait_s)
        kafka = settings.effective_kafka
        runners = [ProjectionRunner(AccessFactsProjection(topic(opts, "consent.events")),
                                    engine, kafka, batch_size=settings.projection_batch_size),
                   ProjectionRunner(AccessLogProjection(topic(opts, "audit.access"),
                                                        topic(opts, "consent.events")),
                                    engine, kafka, batch_size=settings.projection_batch_size)]
        relay = OutboxRelay(url, opts.schema, kafka, settings.relay_batch_size,
                            settings.relay_poll_interval_s, settings.relay_standby_retry_s)
        for r in runners:
            await r.prepare()   # tables exist before the first request
        await logger.start()
        tasks: list[asyncio.Task] = []
        if opts.background:
            tasks.append(asyncio.create_task(relay.run(), name="relay"))
            for r in runners:
                tasks.append(asyncio.create_task(_run_projection(r), name=r.projection.name))
        app.state.runners = runners
        try:
            yield
        finally:
            await logger.stop()
            relay.stop()
            for r in runners:
                await r.stop()
            for t in tasks:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            await engine.dispose()

    app = FastAPI(title="Consent and access", version="1.0", lifespan=lifespan,
                  description="Care relations, consents, blocks, restricted entries, emergency "
                              "access, proxies and the access log (DESIGN.md §4).")
    if opts.telemetry:   # before the first request: it adds the tracing middleware
        setup_telemetry(settings, SERVICE, app)
    install_error_handlers(app)
    install_access_handlers(app)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict:
        """Ready: started (migrated, projections prepared, access logger running)."""
        return {"status": "ok", "service": SERVICE}

    @app.exception_handler(Refused)
    async def _refused(request, exc: Refused):
        return outcome_response(exc.status, code_for_status(exc.status), exc.message)

    from services.consent import api, fhir_api
    app.include_router(api.router)
    app.include_router(fhir_api.router)
    if settings.environment != "production" and not settings.jwks:
        @app.get("/.well-known/jwks.json", include_in_schema=False)
        def dev_jwks() -> dict:
            """The development issuer's public keys, for other local services."""
            return DevIssuer.from_settings(settings).jwks()
    return app


async def _run_projection(runner: ProjectionRunner) -> None:
    await runner.start()
    await runner.run()
