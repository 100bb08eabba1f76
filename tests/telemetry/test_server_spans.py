"""The server span and request-duration metric every service's requests get
(``libs/telemetry/http.py``): in-process ASGI, no I/O."""

from __future__ import annotations

import io

import httpx
import pytest
from fastapi import FastAPI, Response
from fastapi.responses import StreamingResponse
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from libs.config import Settings
from libs.telemetry import NATIVE_TELEMETRY_OFF, setup_telemetry, shutdown
from libs.telemetry.setup import current
from libs.web.errors import install_error_handlers
from tests.support.metrics import CapturingMetricExporter

FNR = "01017012345"
CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class Escaped(Exception):
    pass


def app_with_routes() -> FastAPI:
    app = FastAPI(telemetry=NATIVE_TELEMETRY_OFF)
    install_error_handlers(app)

    @app.get("/patients/{pid}/notes")
    async def notes(pid: str, q: str | None = None):
        return {"notes": []}

    @app.get("/down")
    async def down():
        return Response(status_code=503)

    @app.get("/boom")
    async def boom():
        raise RuntimeError(f"lookup of {FNR} failed")   # answered by the error handlers: 500

    @app.get("/late")
    async def late():   # fails after the answer started: nothing can be sent any more
        async def body():
            yield b"["
            raise Escaped(" ".join(("half", "way")))   # (the frame's line shows no message)
        return StreamingResponse(body())

    return app


@pytest.fixture
def instrumented():
    spans, metrics_out = InMemorySpanExporter(), CapturingMetricExporter()
    app = app_with_routes()
    setup_telemetry(Settings(otel_exporter="none"), "test-server-spans", app=app,
                    span_exporters=[spans], metric_exporters=[metrics_out],
                    log_stream=io.StringIO())
    try:
        yield app, spans, metrics_out
    finally:
        shutdown()


def server_spans(spans: InMemorySpanExporter) -> list:
    return [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]


async def call(app: FastAPI, method: str, path: str, **kw) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                                 base_url="http://test") as client:
        return await client.request(method, path, **kw)


async def test_a_request_is_a_server_span_named_by_its_route_in_the_callers_trace(instrumented):
    app, spans, _ = instrumented
    r = await call(app, "GET", f"/patients/{FNR}/notes?q={FNR}", headers={"traceparent": CALLER})
    assert r.status_code == 200
    [span] = server_spans(spans)
    assert span.name == "GET /patients/{pid}/notes"
    assert trace.format_trace_id(span.context.trace_id) == CALLER.split("-")[1]
    assert format(span.parent.span_id, "016x") == CALLER.split("-")[2]
    assert dict(span.attributes) == {
        "http.request.method": "GET", "url.scheme": "http", "network.protocol.version": "1.1",
        "http.route": "/patients/{pid}/notes", "http.response.status_code": 200}
    assert span.status.status_code == StatusCode.UNSET


async def test_without_a_caller_the_span_starts_a_trace_and_odd_methods_are_other(instrumented):
    app, spans, _ = instrumented
    r = await call(app, "BREW", "/patients/x/notes")
    assert r.status_code == 405
    [span] = server_spans(spans)
    assert span.parent is None
    assert span.name == "HTTP /patients/{pid}/notes"
    assert span.attributes["http.request.method"] == "_OTHER"
    assert span.attributes["http.response.status_code"] == 405


async def test_a_5xx_answer_is_an_error_and_a_4xx_is_not(instrumented):
    app, spans, _ = instrumented
    assert (await call(app, "GET", "/down")).status_code == 503
    assert (await call(app, "GET", "/nowhere")).status_code == 404
    down, nowhere = server_spans(spans)
    assert down.status.status_code == StatusCode.ERROR
    assert nowhere.name == "GET" and "http.route" not in nowhere.attributes
    assert nowhere.status.status_code == StatusCode.UNSET


async def test_an_answered_exception_is_recorded_once_without_its_message(instrumented):
    app, spans, _ = instrumented
    assert (await call(app, "GET", "/boom")).status_code == 500
    [span] = server_spans(spans)
    assert span.status.status_code == StatusCode.ERROR
    [event] = [e for e in span.events if e.name == "exception"]
    assert event.attributes["exception.type"] == "RuntimeError"
    assert FNR not in str(span.to_json())


async def test_an_exception_after_the_answer_started_is_on_the_span_and_the_metric(instrumented):
    app, spans, metrics_out = instrumented
    await call(app, "GET", "/late")
    [span] = server_spans(spans)
    assert span.status.status_code == StatusCode.ERROR
    [event] = [e for e in span.events if e.name == "exception"]
    assert event.attributes["exception.type"] == "Escaped"
    assert "half way" not in str(span.to_json())   # the frames, not the message
    current().force_flush()
    [late] = [p for p in metrics_out.points("http.server.request.duration")
              if p.attributes.get("http.route") == "/late"]
    assert late.attributes["error.type"] == "Escaped" and late.count == 1
