"""``otel_trace_ratio``: which traces are recorded (``libs/telemetry/sampling.py``), and a failed
request's span kept whatever its trace's luck. In-process ASGI, no I/O."""

from __future__ import annotations

import io

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import ValidationError

from libs.config import Settings
from libs.telemetry import setup_telemetry, shutdown
from libs.telemetry.sampling import TraceRatio
from tests.telemetry.test_server_spans import app_with_routes, call

SAMPLED = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
NOT_SAMPLED = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"


@pytest.fixture
def none_sampled():
    spans, app = InMemorySpanExporter(), app_with_routes()
    setup_telemetry(Settings(otel_exporter="none", otel_trace_ratio=0.0), "test-ratio", app=app,
                    span_exporters=[spans], log_stream=io.StringIO())
    try:
        yield app, spans
    finally:
        shutdown()


async def test_a_trace_not_sampled_records_no_span(none_sampled):
    app, spans = none_sampled
    assert (await call(app, "GET", "/patients/p1/notes")).status_code == 200
    assert (await call(app, "GET", "/down", headers={"traceparent": NOT_SAMPLED})
            ).status_code == 503
    assert [s.name for s in spans.get_finished_spans()
            if s.attributes.get("ehr.trace_sampled") is not False] == []


async def test_a_callers_sampled_trace_is_recorded_here_too(none_sampled):
    app, spans = none_sampled
    await call(app, "GET", "/patients/p1/notes", headers={"traceparent": SAMPLED})
    [server] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert server.name == "GET /patients/{pid}/notes"
    assert f"{server.context.trace_id:032x}" == SAMPLED.split("-")[1]


async def test_a_failed_request_is_kept_whatever_its_traces_luck(none_sampled):
    app, spans = none_sampled
    assert (await call(app, "GET", "/boom")).status_code == 500
    assert (await call(app, "GET", "/down", headers={"traceparent": NOT_SAMPLED})
            ).status_code == 503
    boom, down = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert (boom.name, down.name) == ("GET /boom", "GET /down")
    for kept in (boom, down):
        assert kept.status.status_code == StatusCode.ERROR
        assert kept.attributes["ehr.trace_sampled"] is False
        assert kept.end_time > kept.start_time
    assert boom.attributes["http.response.status_code"] == 500
    assert f"{down.context.trace_id:032x}" == NOT_SAMPLED.split("-")[1], "in the caller's trace"
    assert len(spans.get_finished_spans()) == 2, "one span each, nothing under them"


async def test_every_trace_is_recorded_again_once_the_settings_say_so():
    spans, app = InMemorySpanExporter(), app_with_routes()
    setup_telemetry(Settings(otel_exporter="none", otel_trace_ratio=0.0), "test-ratio", app=app,
                    span_exporters=[spans], log_stream=io.StringIO())
    setup_telemetry(Settings(otel_exporter="none"), "test-ratio", log_stream=io.StringIO())
    try:
        await call(app, "GET", "/patients/p1/notes")
        assert [s.name for s in spans.get_finished_spans()] == ["GET /patients/{pid}/notes"]
    finally:
        shutdown()


def test_a_ratio_outside_zero_to_one_is_refused():
    with pytest.raises(ValidationError):
        Settings(otel_trace_ratio=1.5)
    with pytest.raises(ValueError):
        TraceRatio(-0.1)
    assert TraceRatio(0.25).get_description() == "TraceRatio{0.25}"
