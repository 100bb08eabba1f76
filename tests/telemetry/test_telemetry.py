"""Telemetry: JSON logs and spans never carry a national id number; setup is idempotent."""

from __future__ import annotations

import io
import json
import logging

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from libs.config import Settings
from libs.events.telemetry_hooks import instruments
from libs.telemetry import (
    MASK, NATIVE_TELEMETRY_OFF, RedactingSpanExporter, SafeTraceContextPropagator,
    contains_national_id, redact, setup_telemetry, shutdown)
from libs.telemetry.setup import current
from tests.support.metrics import CapturingMetricExporter

FNR = "01017012345"
FNR_SPACED = "010170 12345"
log = logging.getLogger("tests.telemetry")


def settings(**kw) -> Settings:
    return Settings(**({"otel_exporter": "none", "log_json": True} | kw))


@pytest.fixture
def telemetry():
    spans, logs = InMemorySpanExporter(), io.StringIO()
    setup_telemetry(settings(), "test-telemetry", span_exporters=[spans], log_stream=logs)
    yield spans, logs
    shutdown()


def log_lines(buf: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


# -- the pattern -----------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    (f"fnr {FNR} here", f"fnr {MASK} here"),
    (f"spaced {FNR_SPACED}.", f"spaced {MASK}."),
    (f"/Patient?identifier=urn:oid:2.16.578.1.12.4.1.4.1|{FNR}",
     f"/Patient?identifier=urn:oid:2.16.578.1.12.4.1.4.1|{MASK}"),
    (f"d-number 41017012345, fnr={FNR}", f"d-number {MASK}, fnr={MASK}"),
    ("twelve digits 123456789012 and ten 1234567890 stay", None),
    ("uuid 0190a3c4-5b6d-7e8f-9012-a45678901234 stays", None),
    ("traceparent 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 stays", None),
    ("trace 4bf92123456789010a3ce929d0e0e473 stays", None),
])
def test_redact_replaces_national_ids_and_keeps_correlation_ids(text, expected):
    assert redact(text) == (expected if expected is not None else text)
    assert contains_national_id(text) == (expected is not None)


# -- logs ------------------------------------------------------------------------------------------
def test_json_logs_redact_national_ids_and_carry_trace_ids(telemetry):
    _, buf = telemetry
    tracer = trace.get_tracer("tests.telemetry")
    with tracer.start_as_current_span("register") as span:
        log.info("registered patient %s with fnr %s", "Kari Nordmann", FNR)
        log.warning(f"lookup of {FNR_SPACED} failed", extra={"query": f"identifier={FNR}"})
        log.info("numeric id %d", int(FNR[1:]) + 10_000_000_000)  # an int argument
        try:
            raise ValueError(f"no patient with fnr {FNR}")
        except ValueError:
            log.exception("lookup error for %s", FNR)
    log.info("outside any span")

    text = buf.getvalue()
    assert FNR not in text and FNR_SPACED not in text and FNR[1:] not in text
    lines = log_lines(buf)
    assert len(lines) == 5, text  # one JSON object per line
    first, second, third, fourth, outside = lines
    assert first["message"] == f"registered patient Kari Nordmann with fnr {MASK}"
    assert first["level"] == "INFO" and first["logger"] == "tests.telemetry"
    assert first["service"] == "test-telemetry"
    ctx = span.get_span_context()
    assert first["trace_id"] == format(ctx.trace_id, "032x")
    assert first["span_id"] == format(ctx.span_id, "016x")
    assert second["message"] == f"lookup of {MASK} failed"
    assert second["query"] == f"identifier={MASK}"
    assert third["message"] == f"numeric id {MASK}"
    assert fourth["message"] == f"lookup error for {MASK}"
    assert "Traceback" in fourth["exception"]
    assert f"no patient with fnr {MASK}" in fourth["exception"]
    assert "trace_id" not in outside and outside["message"] == "outside any span"


def test_records_are_redacted_for_every_handler_not_just_ours(telemetry, caplog):
    with caplog.at_level(logging.INFO, logger="tests.telemetry"):
        log.info("fnr %s", FNR)
    assert caplog.records[-1].getMessage() == f"fnr {MASK}"
    assert FNR not in caplog.text


def test_text_logs_are_redacted_too():
    buf = io.StringIO()
    setup_telemetry(settings(log_json=False), "test-telemetry", log_stream=buf)
    try:
        log.info("fnr %s", FNR)
    finally:
        shutdown()
    assert f"fnr {MASK}" in buf.getvalue() and FNR not in buf.getvalue()


# -- spans -----------------------------------------------------------------------------------------
def test_exporter_redacts_names_attributes_events_links_and_status():
    mem = InMemorySpanExporter()
    provider = TracerProvider()  # a private provider: the unit under test is the exporter
    provider.add_span_processor(SimpleSpanProcessor(RedactingSpanExporter(mem)))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("clean", attributes={"n": 3}) as clean:
        pass
    with tracer.start_as_current_span(
            f"GET /Patient/{FNR}",
            links=[trace.Link(clean.get_span_context(), {"why": f"fnr {FNR}"})],
            attributes={"url.query": f"identifier={FNR}", "ids": ["a", FNR_SPACED],
                        "n": 3, "as_int": int(FNR) + 10_000_000_000, "ok": True},
            record_exception=False) as span:
        span.add_event("lookup", {"input": FNR})
        span.record_exception(ValueError(f"unknown {FNR}"))
        span.set_status(StatusCode.ERROR, f"no patient {FNR}")
    provider.shutdown()

    exported = {s.name: s for s in mem.get_finished_spans()}
    assert set(exported) == {"clean", f"GET /Patient/{MASK}"}
    s = exported[f"GET /Patient/{MASK}"]
    assert dict(s.attributes) == {"url.query": f"identifier={MASK}", "ids": ("a", MASK),
                                  "n": 3, "as_int": MASK, "ok": True}
    assert s.events[0].attributes["input"] == MASK
    exc = s.events[1].attributes
    assert exc["exception.message"] == f"unknown {MASK}"
    assert FNR not in exc["exception.stacktrace"]
    assert s.links[0].attributes["why"] == f"fnr {MASK}"
    assert s.status.description == f"no patient {MASK}"
    assert s.context == span.get_span_context() and s.parent == span.parent
    assert s.start_time == span.start_time and s.end_time == span.end_time
    assert exported["clean"] is clean or dict(exported["clean"].attributes) == {"n": 3}
    assert FNR not in repr([x.to_json() for x in mem.get_finished_spans()])


def test_global_setup_routes_spans_through_redaction(telemetry):
    spans, _ = telemetry
    with trace.get_tracer("tests.telemetry").start_as_current_span("x") as span:
        span.set_attribute("patient.identifier", FNR)
    [s] = [s for s in spans.get_finished_spans() if s.name == "x"]
    assert s.attributes["patient.identifier"] == MASK


# -- propagation -----------------------------------------------------------------------------------
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_propagator_drops_a_tracestate_that_carries_a_national_id_and_all_baggage(telemetry):
    p = propagate.get_global_textmap()
    assert isinstance(p, SafeTraceContextPropagator)

    ctx = p.extract({"traceparent": TRACEPARENT, "tracestate": f"ehr=ok,x={FNR}",
                     "baggage": f"fnr={FNR}"})
    sc = trace.get_current_span(ctx).get_span_context()
    assert format(sc.trace_id, "032x") == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert len(sc.trace_state) == 0
    out: dict[str, str] = {}
    p.inject(out, ctx)
    assert set(out) == {"traceparent"}

    ctx = p.extract({"traceparent": TRACEPARENT, "tracestate": "ehr=ok"})
    out = {}
    p.inject(out, ctx)
    assert out == {"traceparent": TRACEPARENT, "tracestate": "ehr=ok"}

    unsafe = trace.set_span_in_context(trace.NonRecordingSpan(trace.SpanContext(
        sc.trace_id, sc.span_id, True, trace_state=trace.TraceState([("x", FNR)]))))
    out = {}
    p.inject(out, unsafe)  # a tracestate made in process is not written either
    assert set(out) == {"traceparent"}


# -- setup -----------------------------------------------------------------------------------------
async def test_setup_is_idempotent_and_instruments_fastapi_once():
    mem, metrics_out = InMemorySpanExporter(), CapturingMetricExporter()
    app = FastAPI(telemetry=NATIVE_TELEMETRY_OFF)   # as every service's app

    @app.get("/ping/{who}")
    async def ping(who: str):
        return {"pong": who}

    s = settings()
    first = setup_telemetry(s, "test-telemetry", app=app, span_exporters=[mem],
                            metric_exporters=[metrics_out], log_stream=io.StringIO())
    again = setup_telemetry(s, "test-telemetry", app=app, span_exporters=[mem],
                            metric_exporters=[metrics_out], log_stream=io.StringIO())
    try:
        assert first is again
        assert len(first.span_switch.processors) == 1  # "none" attaches nothing but ours
        assert len(first.metric_switch.exporters) == 1
        root_handlers = [h for h in logging.getLogger().handlers
                         if getattr(h, "_ehr_handler", False)]
        assert len(root_handlers) == 1
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://test") as client:
            r = await client.get(f"/ping/{FNR}?q={FNR}")
            missing = await client.get(f"/nowhere/{FNR}")
        assert r.status_code == 200 and missing.status_code == 404
        server = [sp for sp in mem.get_finished_spans()
                  if sp.kind == trace.SpanKind.SERVER]
        assert len(server) == 2, "the app was instrumented twice"
        # named after the route the app matched; a path matching none keeps the method alone
        assert [sp.name for sp in server] == ["GET /ping/{who}", "GET"]
        assert server[0].attributes["http.route"] == "/ping/{who}"
        assert "http.route" not in server[1].attributes
        assert FNR not in json.dumps([json.loads(sp.to_json()) for sp in mem.get_finished_spans()])

        instruments().dlq.add(1, {"projection": "test_telemetry"})
        first.force_flush()
        names = metrics_out.names()
        assert "http.server.request.duration" in names, names
        # the request-duration metric has the route's template, never the path's values
        durations = metrics_out.points("http.server.request.duration")
        [ping] = [p for p in durations if p.attributes.get("http.route") == "/ping/{who}"]
        assert ping.count == 1 and ping.attributes == {
            "http.request.method": "GET", "url.scheme": "http", "http.route": "/ping/{who}",
            "http.response.status_code": 200}
        assert any(p.attributes["http.response.status_code"] == 404 for p in durations)
        assert FNR not in str([p.attributes for p in durations])
        assert any(p.attributes.get("projection") == "test_telemetry"
                   for p in metrics_out.points("ehr.projection.dlq"))
    finally:
        shutdown()
    assert current().span_switch.processors == ()
    assert current().metric_switch.exporters == ()
    with trace.get_tracer("tests.telemetry").start_as_current_span("after shutdown"):
        pass
    assert "after shutdown" not in {sp.name for sp in mem.get_finished_spans()}


def test_console_exporter_writes_one_redacted_json_line_per_span(capsys):
    setup_telemetry(settings(otel_exporter="console"), "test-telemetry",
                    log_stream=io.StringIO())
    try:
        with trace.get_tracer("tests.telemetry").start_as_current_span(f"find {FNR}"):
            pass
        current().tracer_provider.force_flush()
    finally:
        shutdown()
    out = [line for line in capsys.readouterr().out.splitlines() if line.startswith('{"name"')]
    spans = [json.loads(line) for line in out]
    assert [s["name"] for s in spans if s["name"].startswith("find")] == [f"find {MASK}"]


def test_otlp_exporter_targets_the_configured_endpoint():
    tel = setup_telemetry(settings(otel_exporter="otlp", otel_endpoint="http://collector:4318/"),
                          "test-telemetry", log_stream=io.StringIO())
    try:
        [proc] = tel.settings_processors
        exporter = proc.span_exporter
        assert isinstance(exporter, RedactingSpanExporter)
        assert exporter.delegate._endpoint == "http://collector:4318/v1/traces"
        [metric_exporter] = tel.settings_metric_exporters
        assert metric_exporter._endpoint == "http://collector:4318/v1/metrics"
        # new settings replace what the old ones attached (nothing was exported: no flush)
        setup_telemetry(settings(), "test-telemetry", log_stream=io.StringIO())
        assert tel.settings_processors == [] and tel.span_switch.processors == ()
    finally:
        shutdown()
