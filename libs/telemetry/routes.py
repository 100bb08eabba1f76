"""The server span's name and ``http.route``, from the route the application itself matched.

FastAPI's instrumentation names the server span before the request reaches the application, so
it finds the route by matching the path against every route of the application, one regular
expression after the other, and the application's router then does the same matching again.
On the journal, whose FHIR instance routes come after all the others, that first matching was
5 % of a FHIR read's CPU (``bench/profiles/fhir-read-now.svg``). Here the span starts with the
method alone (the name a request matching no route keeps, as before), and is renamed
``"GET /Observation/{id}"`` with ``http.route`` set once the router has put the matched route
in the ASGI scope. The request-duration metric already takes its route from that same place.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.util.http import sanitize_method

log = logging.getLogger(__name__)
HTTP_ROUTE = "http.route"


def method_only(scope: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The span's name when it starts: the method, as the instrumentation sanitises it."""
    method = sanitize_method(str(scope.get("method", "")).strip())
    return ("HTTP" if method == "_OTHER" else method), {}


class NameByRoute:
    """ASGI middleware inside the OpenTelemetry middleware: rename the current server span
    after the route the application matched, as the answer starts (the instrumentation ends
    the span with the answer's last message, so not later)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":   # (no service serves WebSockets)
            await self.app(scope, receive, send)
            return
        named = False

        async def naming_send(message) -> None:
            nonlocal named
            if not named:
                named = True
                _rename(scope)
            await send(message)

        await self.app(scope, receive, naming_send)


def _rename(scope) -> None:
    route = getattr(scope.get("route"), "path", None)
    span = trace.get_current_span()
    if route and span.is_recording():
        span.update_name(f"{method_only(scope)[0]} {route}")
        span.set_attribute(HTTP_ROUTE, route)


def name_spans_by_route(app) -> None:
    """Make an app that ``FastAPIInstrumentor.instrument_app`` has instrumented name its server
    spans from its own routing (call right after it, before the first request)."""
    instrumented = app.build_middleware_stack

    def build_middleware_stack():
        outer = instrumented()
        otel = getattr(outer, "app", None)
        if isinstance(otel, OpenTelemetryMiddleware):
            otel.default_span_details = method_only
            otel.app = NameByRoute(otel.app)
        else:   # the instrumentation changed shape: its own (slower) naming stays
            log.warning("server spans keep the instrumentation's route lookup: its middleware "
                        "stack is not the one expected (%s)", type(otel).__name__)
        return outer

    app.build_middleware_stack = build_middleware_stack
