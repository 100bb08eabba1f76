"""Install OpenTelemetry for a process: traces, metrics, JSON logs (DESIGN.md §6).

``setup_telemetry(settings, "medication", app=app, engine=engine)`` at start-up,
``shutdown()`` at exit. OpenTelemetry allows the global providers to be set once per process,
so they are installed on the first call and kept; what is attached to them (the exporter the
settings choose, extra exporters, instrumented apps and engines, the log handler) can change
with later calls, and :func:`shutdown` detaches it again. That keeps the call idempotent and
lets tests attach an in-memory exporter per test.

Every exporter is wrapped in :class:`RedactingSpanExporter`, log records are redacted as they
are created, and the propagator drops a ``tracestate`` that carries a national id number and
all baggage (it replaces ``OTEL_PROPAGATORS``), so national id numbers reach neither the
collector, the log stream, nor Kafka headers.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

from opentelemetry import metrics, propagate, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter, MetricExporter, PeriodicExportingMetricReader)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor, SpanExporter)
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp

from libs.config import Settings
from libs.telemetry.exporters import (
    MetricExporterSwitch, RedactingSpanExporter, SpanProcessorSwitch)
from libs.telemetry.logs import configure_logging, install_record_redaction, \
    remove_logging_handler
from libs.telemetry.propagation import SafeTraceContextPropagator
from libs.telemetry.http import ServerSpans
from libs.telemetry.sampling import TraceRatio

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)


@dataclass
class Telemetry:
    """What :func:`setup_telemetry` installed."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    span_switch: SpanProcessorSwitch
    metric_switch: MetricExporterSwitch
    sampler: TraceRatio
    failures: TracerProvider   # always samples: a failed request's span (libs.telemetry.sampling)
    # (exporter, endpoint) the settings asked for, and what it attached
    configured: tuple[str, str | None] | None = None
    settings_processors: list[SpanProcessor] = field(default_factory=list)
    settings_metric_exporters: list[MetricExporter] = field(default_factory=list)
    extra_span_exporters: dict[int, SpanProcessor] = field(default_factory=dict)
    extra_metric_exporters: dict[int, MetricExporter] = field(default_factory=dict)
    engines: weakref.WeakSet = field(default_factory=weakref.WeakSet)
    sql_connections_usage: object | None = None

    def force_flush(self, timeout_millis: int = 10_000) -> bool:
        spans = self.tracer_provider.force_flush(timeout_millis)
        return self.meter_provider.force_flush(timeout_millis) and spans


_lock = threading.RLock()
_state: Telemetry | None = None


def setup_telemetry(settings: Settings, service_name: str, app: FastAPI | None = None,
                    engine: AsyncEngine | None = None, *,
                    span_exporters: Sequence[SpanExporter] = (),
                    metric_exporters: Sequence[MetricExporter] = (),
                    log_stream: IO[str] | None = None,
                    log_level: int = logging.INFO) -> Telemetry:
    """Install tracing, metrics and logging; instrument ``app`` and ``engine`` when given.

    The exporter is ``settings.otel_exporter``: ``none`` (spans and trace ids are still made,
    so the traceparent reaches the outbox and the logs), ``console`` (one JSON line per span on
    stdout) or ``otlp`` (HTTP/protobuf to ``settings.otel_endpoint``, or to the standard
    ``OTEL_EXPORTER_OTLP_*`` variables when it is unset). ``span_exporters`` are extra
    exporters, called synchronously as each span ends (tests use an in-memory one);
    ``metric_exporters`` receive every metric collection. Calling it again is safe: nothing is
    attached or instrumented twice.
    """
    global _state
    with _lock:
        install_record_redaction()
        if _state is None:
            _state = _install_providers(service_name)
        state = _state
        state.sampler.set(settings.otel_trace_ratio)
        _attach_settings_exporters(state, settings)
        for exporter in span_exporters:
            if id(exporter) not in state.extra_span_exporters:
                proc = SimpleSpanProcessor(RedactingSpanExporter(exporter))
                state.extra_span_exporters[id(exporter)] = proc
                state.span_switch.add(proc)
        for exporter in metric_exporters:
            if id(exporter) not in state.extra_metric_exporters:
                state.extra_metric_exporters[id(exporter)] = exporter
                state.metric_switch.add(exporter)
        configure_logging(settings.log_json, service_name, stream=log_stream, level=log_level)
        if app is not None:
            instrument_app(app)
        if engine is not None:
            instrument_engine(engine)
        return state


def current() -> Telemetry | None:
    return _state


def instrument_app(app: FastAPI) -> None:
    """The server span and the request-duration metric for every request of a FastAPI app
    (:class:`libs.telemetry.http.ServerSpans`, just inside Starlette's ``ServerErrorMiddleware``
    so the other middleware and the error handlers run in the span). Call it before the first
    request; calling it again does nothing."""
    state = _require()
    if getattr(app, "_ehr_server_spans", False):
        return
    app._ehr_server_spans = True   # type: ignore[attr-defined]
    build = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        outer = build()
        if isinstance(outer, ServerErrorMiddleware):
            outer.app = ServerSpans(outer.app, state.tracer_provider, state.meter_provider,
                                    failures=state.failures)
            return outer
        log.warning("no server spans: the app's middleware stack is not Starlette's (%s)",
                    type(outer).__name__)
        return outer

    app.build_middleware_stack = build_middleware_stack   # type: ignore[method-assign]


def instrument_engine(engine: AsyncEngine) -> None:
    """Client spans for every statement on ``engine`` (statements, never parameters)."""
    from opentelemetry.instrumentation.sqlalchemy import __version__ as sa_version
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

    state = _require()
    sync_engine = getattr(engine, "sync_engine", engine)
    if sync_engine in state.engines:
        return
    # The SQLAlchemyInstrumentor is a process-wide singleton that instruments one engine once
    # and patches create_engine globally; EngineTracer (what it uses underneath) instruments
    # exactly the engine given, any number of times.
    tracer = trace.get_tracer("opentelemetry.instrumentation.sqlalchemy", sa_version,
                              state.tracer_provider)
    meter = metrics.get_meter("opentelemetry.instrumentation.sqlalchemy", sa_version,
                              state.meter_provider)
    if state.sql_connections_usage is None:
        state.sql_connections_usage = meter.create_up_down_counter(
            name="db.client.connections.usage", unit="connections",
            description="The number of connections that are currently in state described by "
                        "the state attribute.")
    EngineTracer(tracer, sync_engine, state.sql_connections_usage)
    state.engines.add(sync_engine)


def shutdown() -> None:
    """Flush and detach every exporter and the log handler. The providers stay installed (they
    cannot be replaced), so a later :func:`setup_telemetry` attaches fresh exporters to them."""
    with _lock:
        state = _state
        if state is None:
            return
        try:
            state.force_flush()
        except Exception:  # noqa: BLE001 - an unreachable collector must not block exit
            log.warning("telemetry: flush at shutdown failed", exc_info=True)
        for proc in [*state.settings_processors, *state.extra_span_exporters.values()]:
            state.span_switch.remove(proc)
            _quietly(proc.shutdown)
        for exp in [*state.settings_metric_exporters, *state.extra_metric_exporters.values()]:
            state.metric_switch.remove(exp)
            _quietly(exp.shutdown)
        state.settings_processors.clear()
        state.settings_metric_exporters.clear()
        state.extra_span_exporters.clear()
        state.extra_metric_exporters.clear()
        state.configured = None
        state.sampler.set(1.0)   # the default again, for whoever sets up next
        remove_logging_handler()


shutdown_telemetry = shutdown


def _require() -> Telemetry:
    if _state is None:
        raise RuntimeError("call setup_telemetry() first")
    return _state


def _quietly(fn) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001
        log.warning("telemetry: shutting down an exporter failed", exc_info=True)


def _install_providers(service_name: str) -> Telemetry:
    resource = Resource.create({"service.name": service_name, "service.namespace": "ehr"})
    span_switch = SpanProcessorSwitch()
    metric_switch = MetricExporterSwitch()
    propagate.set_global_textmap(SafeTraceContextPropagator())

    sampler = TraceRatio()
    existing = trace.get_tracer_provider()
    if isinstance(existing, TracerProvider):  # someone else installed an SDK provider first
        tracer_provider = existing
        log.warning("telemetry: a TracerProvider was installed before setup_telemetry; its "
                    "sampler, not otel_trace_ratio, decides which traces are recorded")
    else:
        tracer_provider = TracerProvider(resource=resource, sampler=sampler)
        trace.set_tracer_provider(tracer_provider)
    tracer_provider.add_span_processor(span_switch)
    # the same processors: the main provider alone shuts them down at exit
    failures = TracerProvider(resource=resource, sampler=ALWAYS_ON, shutdown_on_exit=False)
    failures.add_span_processor(span_switch)

    meter_provider = MeterProvider(resource=resource,
                                   metric_readers=[PeriodicExportingMetricReader(metric_switch)])
    if isinstance(metrics.get_meter_provider(), MeterProvider):
        # its readers are fixed: ours serves the instrumented apps and engines only
        log.warning("telemetry: a MeterProvider was installed before setup_telemetry; metrics "
                    "from the global meter (the backbone's) do not reach the configured exporter")
    else:
        metrics.set_meter_provider(meter_provider)
    return Telemetry(tracer_provider, meter_provider, span_switch, metric_switch, sampler,
                     failures)


def _attach_settings_exporters(state: Telemetry, settings: Settings) -> None:
    wanted = (settings.otel_exporter, settings.otel_endpoint)
    if state.configured == wanted:
        return
    for proc in state.settings_processors:  # the settings changed: replace what they attached
        state.span_switch.remove(proc)
        _quietly(proc.shutdown)
    for exp in state.settings_metric_exporters:
        state.metric_switch.remove(exp)
        _quietly(exp.shutdown)
    state.settings_processors.clear()
    state.settings_metric_exporters.clear()

    span_exporter: SpanExporter | None = None
    metric_exporter: MetricExporter | None = None
    if settings.otel_exporter == "console":
        span_exporter = ConsoleSpanExporter(
            out=sys.stdout, formatter=lambda span: span.to_json(indent=None) + os.linesep)
        metric_exporter = ConsoleMetricExporter(
            out=sys.stdout, formatter=lambda data: data.to_json(indent=None) + os.linesep)
    elif settings.otel_exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        base = settings.otel_endpoint.rstrip("/") if settings.otel_endpoint else None
        span_exporter = OTLPSpanExporter(endpoint=f"{base}/v1/traces" if base else None)
        metric_exporter = OTLPMetricExporter(endpoint=f"{base}/v1/metrics" if base else None)
    if span_exporter is not None:
        proc = BatchSpanProcessor(RedactingSpanExporter(span_exporter))
        state.span_switch.add(proc)
        state.settings_processors.append(proc)
    if metric_exporter is not None:
        state.metric_switch.add(metric_exporter)
        state.settings_metric_exporters.append(metric_exporter)
    state.configured = wanted
