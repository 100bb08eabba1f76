"""What every service's composition root shares: options, and the runtime a service's lifespan
starts and stops (migrations, engine, event store, access logger, relay, projections).

A service's manifest says which events it decodes and which projections it runs and what it
keeps in ``app.state``; the rest is here:

    async with ServiceRuntime(settings, opts, MANIFEST) as rt:
        app.state.access = rt.access(read_models=("journal_records",))
        yield
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from fastapi import FastAPI

from libs.audit.log import AccessLogger
from libs.access.dev_issuer import dev_validator
from libs.audit.facts_store import FactsReader
from libs.web.guard import Access, install_access_handlers
from libs.access.tokens import TokenValidator
from libs.config import Settings
from libs.events.applied_listener import AppliedListener
from libs.events.db import make_engine
from libs.events.migrations import run_migrations
from libs.events.projection import ProjectionRunner
from libs.events.relay import OutboxRelay
from libs.events.store import EventStore
from libs.telemetry import NATIVE_TELEMETRY_OFF, instrument_engine, setup_telemetry
from libs.web.errors import install_error_handlers
from libs.web.limits import BoundedRequests
from libs.web.manifest import Manifest
from libs.web.subject_doc import document_subject


@dataclass
class Options:
    """What tests and operators may change besides settings."""

    schema: str | None = None          # default: the service's name
    topic_names: Mapping[str, str] = field(default_factory=dict)
    validator: TokenValidator | None = None
    clock: Callable[[], datetime] | None = None
    background: bool = True   # relay and projections in this process
    telemetry: bool = True    # traces, metrics, JSON logs (libs/telemetry)

    def topic(self, name: str) -> str:
        return self.topic_names.get(name, name)


def validator_for(settings: Settings) -> TokenValidator:
    """The configured JWKS; without one, the development issuer (refused in production)."""
    return TokenValidator(settings) if settings.jwks else dev_validator(settings)


class ServiceRuntime:
    """Starts, in this process: migrations of the service's schema, the outbox relay (one
    leader per schema across replicas), the given projections (their tables exist before the
    first request) and the access logger; stops them in reverse."""

    def __init__(self, settings: Settings, opts: Options, manifest: Manifest):
        self.settings, self.opts, self.service = settings, opts, manifest.name
        self.schema = opts.schema or manifest.name
        self.projections = manifest.projections(opts.topic)
        self.registry = manifest.registry()
        self._tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> ServiceRuntime:
        s, url = self.settings, self.settings.effective_database_url
        await run_migrations(url, self.schema)
        self.engine = make_engine(url, self.schema, pool_size=s.db_pool_size,
                                  max_overflow=s.db_max_overflow)
        if self.opts.telemetry and s.otel_sql_spans:
            instrument_engine(self.engine)
        self.store = EventStore(self.engine, registry=self.registry,
                                topic_names=self.opts.topic_names)
        # the relay drains the log's rows relay_later_s after it heard of them; told at most
        # twice as often, a row committed within half of that goes with that drain, and any
        # row at the latest at the relay's poll (relay_poll_interval_s)
        self.logger = AccessLogger(self.engine, self.service, store=self.store,
                                   tell_every_s=s.relay_later_s / 2)
        kafka = s.effective_kafka
        self.runners = [ProjectionRunner(p, self.engine, kafka, registry=self.registry,
                                         batch_size=s.projection_batch_size)
                        for p in self.projections]
        self.relay = OutboxRelay.from_settings(s, self.schema)
        for r in self.runners:
            await r.prepare()
        await self.logger.start()
        self.listener = None
        if self.opts.background:
            self._tasks.append(asyncio.create_task(self.relay.run(), name="relay"))
            for r in self.runners:
                self._tasks.append(asyncio.create_task(_run_projection(r),
                                                       name=r.projection.name))
        else:   # its projections run elsewhere: hear their batches commit
            self.listener = AppliedListener(url, self.schema)
            await self.listener.start()
        return self

    def access(self, read_models: Sequence[str] = ()) -> Access:
        return Access(self.service, self.opts.validator or validator_for(self.settings),
                      FactsReader(self.engine), self.logger, self.opts.clock,
                      self.settings.consistency_wait_s, read_models=read_models)

    async def __aexit__(self, *exc) -> None:
        if self.listener is not None:
            await self.listener.stop()
        await self.logger.stop()
        self.relay.stop()
        for r in self.runners:
            await r.stop()
        for t in self._tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self.engine.dispose()


def service_app(settings: Settings, opts: Options, service: str, lifespan, *, title: str,
                description: str) -> FastAPI:
    """The FastAPI app with what every service has: telemetry, error and access handlers
    (a domain error is an OperationOutcome with its kind's status), bounded request bodies
    (``settings.max_body_bytes``, no duplicate JSON keys: ``libs/web/limits.py``), and
    ``/health``."""
    app = FastAPI(title=title, version="1.0", lifespan=lifespan, description=description,
                  telemetry=NATIVE_TELEMETRY_OFF)
    if opts.telemetry:   # before the first request: it adds the tracing middleware
        setup_telemetry(settings, service, app)
    install_error_handlers(app)
    install_access_handlers(app)
    document_subject(app)
    app.add_middleware(BoundedRequests, max_body_bytes=settings.max_body_bytes)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict:
        """Ready: started (migrated, projections prepared, access logger running)."""
        return {"status": "ok", "service": service}

    return app


async def _run_projection(runner: ProjectionRunner) -> None:
    await runner.start()
    await runner.run()
