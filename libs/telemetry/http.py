"""The server span and the request-duration metric of every HTTP request (DESIGN.md §6).

One ASGI middleware, just inside Starlette's ``ServerErrorMiddleware``, so every other
middleware, the error handlers and the endpoint run in the span:

- a ``SERVER`` span, a child of the caller's ``traceparent`` (through the global propagator,
  which drops a ``tracestate`` that carries a national id and all baggage). It starts named
  after the method alone and is renamed ``"GET /Observation/{id}"`` with ``http.route`` set
  once the application's router has matched (the route is in the ASGI scope when the answer
  starts), so the path is matched once per request, by the router. A path that matches no
  route keeps the method alone. Attributes follow the stable HTTP semantic conventions:
  ``http.request.method``, ``url.scheme``, ``network.protocol.version``, ``http.route`` and
  ``http.response.status_code``; never the path or the query, which may carry a national id.
  A 5xx answer or an exception that escapes the app sets the span's status to ERROR (an
  exception the error handlers answered is recorded there, ``libs/web/errors.py``).
- ``http.server.request.duration`` (seconds, the conventions' buckets) by method, scheme, route
  and status code (``error.type`` for an exception that escaped).

Why not OpenTelemetry's ASGI/FastAPI instrumentation, which we used before: per request it
collected a dozen attributes by decoding every header, recorded each duration twice (the old
and the new conventions), counted active requests and measured sizes, and matched the path
against every route to name the span. On a FHIR read that came to about a fifth of the
journal's CPU (``bench/RESULTS.md``, issue 17); this does what operators use of it.
"""

from __future__ import annotations

from time import perf_counter, time_ns
from traceback import format_tb

from opentelemetry import metrics, propagate, trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
                     "PATCH", "QUERY"})
TRACE_HEADERS = {b"traceparent": "traceparent", b"tracestate": "tracestate"}
NATIVE_TELEMETRY_OFF = {"tracing": False, "metrics": False, "logs": False,
                        "operation_spans": False}
"""``FastAPI(telemetry=NATIVE_TELEMETRY_OFF)``: FastAPI's own OpenTelemetry (0.163) stays off in
every app this module instruments. Left on, it makes a second server span per request, a span
per dependency, endpoint and serialisation, and logs validation failures with their input
values (which may hold a national id)."""
# the stable HTTP conventions' advice for http.server.request.duration
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)


def method_of(scope: Scope) -> str:
    """The method as the conventions name it: a method HTTP does not define is ``_OTHER``."""
    method = str(scope.get("method", "")).upper()
    return method if method in METHODS else "_OTHER"


def span_name(method: str, route: str | None = None) -> str:
    base = "HTTP" if method == "_OTHER" else method
    return f"{base} {route}" if route else base


class ServerSpans:
    """ASGI middleware: the server span and the duration metric (see the module docstring)."""

    def __init__(self, app: ASGIApp, tracer_provider: trace.TracerProvider,
                 meter_provider: MeterProvider, *,
                 failures: trace.TracerProvider | None = None):
        self.app = app
        self.tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)
        # a failed request's span when its trace was not sampled (libs/telemetry/sampling.py)
        self.failures = None if failures is None else trace.get_tracer(
            __name__, tracer_provider=failures)
        meter = metrics.get_meter(__name__, meter_provider=meter_provider)
        self.duration = meter.create_histogram(
            "http.server.request.duration", unit="s",
            description="Duration of HTTP server requests.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":   # (no service serves WebSockets; lifespan passes)
            await self.app(scope, receive, send)
            return
        start, started_ns = perf_counter(), time_ns()
        carrier = {TRACE_HEADERS[k]: v.decode("latin-1")
                   for k, v in scope.get("headers", ()) if k in TRACE_HEADERS}
        parent = propagate.extract(carrier) if carrier else None
        method, scheme = method_of(scope), scope.get("scheme", "http")
        answered: dict[str, object] = {"http.request.method": method, "url.scheme": scheme}
        span: trace.Span | None = None
        recorded, escaped = True, None   # (is_recording() is false once the span has ended)
        try:
            with self.tracer.start_as_current_span(
                    span_name(method), context=parent, kind=SpanKind.SERVER,
                    record_exception=False, set_status_on_exception=False,
                    attributes={**answered,
                                "network.protocol.version": scope.get("http_version", "1.1")},
            ) as span:
                recorded = span.is_recording()
                async def answering(message: Message) -> None:
                    if message["type"] == "http.response.start":
                        _answered(scope, span, method, message["status"], answered)
                    await send(message)

                try:
                    await self.app(scope, receive, answering)
                except Exception as exc:
                    answered.setdefault("error.type", type(exc).__qualname__)
                    escaped = exc
                    if span.is_recording():
                        _escaped(span, exc)
                    raise
        finally:   # after the span: the metric carries no exemplar (they cost, nobody reads them)
            self.duration.record(perf_counter() - start, answered)
            if span is not None and not recorded and "error.type" in answered \
                    and self.failures is not None:
                self._kept(span, method, answered, started_ns, escaped)

    def _kept(self, unsampled: trace.Span, method: str, answered: dict[str, object],
              started_ns: int, escaped: Exception | None) -> None:
        """The span of a failed request whose trace was not sampled: in the same trace, under
        the server span that was not recorded, so logs and trace still meet by trace id."""
        parent = trace.set_span_in_context(trace.NonRecordingSpan(unsampled.get_span_context()))
        kept = self.failures.start_span(
            span_name(method, answered.get("http.route")), context=parent, kind=SpanKind.SERVER,
            start_time=started_ns, attributes={**answered, "ehr.trace_sampled": False})
        if escaped is not None:
            _escaped(kept, escaped)
        else:
            kept.set_status(Status(StatusCode.ERROR))
        kept.end()


def _escaped(span: trace.Span, exc: Exception) -> None:
    """The frames, not the message: it may hold values."""
    span.add_event("exception", {"exception.type": type(exc).__qualname__,
                                 "exception.stacktrace": "".join(format_tb(exc.__traceback__))})
    span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))


def _answered(scope: Scope, span: trace.Span, method: str, status: int,
              answered: dict[str, object]) -> None:
    route = getattr(scope.get("route"), "path", None)
    answered["http.response.status_code"] = status
    if route:
        answered["http.route"] = route
    if status >= 500:
        answered["error.type"] = str(status)
    if not span.is_recording():
        return
    span.set_attribute("http.response.status_code", status)
    if route:
        span.update_name(span_name(method, route))
        span.set_attribute("http.route", route)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))
