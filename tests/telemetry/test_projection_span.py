"""A projection batch's span (``libs/events/telemetry_hooks.batch_span``): a child of the
trace that wrote the batch's first event, linked to the traces of the others, and only when
that first trace is recorded; and ``child_span``, started only in a trace that may be recorded.
In-process, no I/O."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from libs.config import Settings
from libs.events.telemetry_hooks import _context_of, batch_span, child_span, traced
from libs.telemetry import setup_telemetry, shutdown


def _record(trace_id: int, sampled: bool = True) -> SimpleNamespace:
    parent = f"00-{trace_id:032x}-{trace_id:016x}-{'01' if sampled else '00'}"
    return SimpleNamespace(headers=[("traceparent", parent.encode())])


@pytest.fixture
def spans():
    out = InMemorySpanExporter()
    setup_telemetry(Settings(otel_exporter="none", otel_trace_ratio=0.1), "test-batch",
                    span_exporters=[out], log_stream=io.StringIO())
    try:
        yield out
    finally:
        shutdown()


def test_a_batch_span_is_a_child_of_its_first_write_and_links_the_others(spans):
    with batch_span("records", [_record(1), _record(2), _record(3, sampled=False),
                                SimpleNamespace(headers=None)]):
        pass
    [span] = spans.get_finished_spans()
    assert span.name == "projection records apply"
    assert (span.context.trace_id, span.parent.span_id) == (1, 1)
    assert [link.context.trace_id for link in span.links] == [2, 3]
    assert span.attributes["ehr.events"] == 4


class _Watched:
    """A record that tells whether its headers were read."""

    def __init__(self, trace_id: int):
        self._headers, self.read = _record(trace_id).headers, False

    @property
    def headers(self):
        self.read = True
        return self._headers


def test_a_batch_whose_first_write_was_not_recorded_records_no_span(spans):
    others = [_Watched(5), _Watched(6)]
    with batch_span("records", [_record(4, sampled=False), *others]) as span:
        assert not span.is_recording()
        assert span.get_span_context().trace_id == 4, "its log lines still name the trace"
    assert spans.get_finished_spans() == ()
    assert not any(r.read for r in others), "the other writes' headers were parsed for nothing"


def test_links_stop_at_a_hundred(spans):
    with batch_span("records", [_record(n) for n in range(1, 150)]):
        pass
    [span] = spans.get_finished_spans()
    assert len(span.links) == 100 and span.links[-1].context.trace_id == 101


def test_a_child_span_is_started_only_where_it_could_be_recorded(spans):
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("root", context=_context_of(_record(7))) as sampled:
        with child_span(tracer, "append") as child:
            assert child.is_recording() and child is trace.get_current_span()
    with tracer.start_as_current_span("root", context=_context_of(_record(8, False))) as root:
        with child_span(tracer, "append"):   # the sampler would drop it: none is started
            assert trace.get_current_span() is root and not traced()
    assert traced() and traced(_context_of(_record(9))) and not traced(
        _context_of(_record(9, False)))
    assert [(s.name, s.context.trace_id) for s in spans.get_finished_spans()] == [
        ("append", 7), ("root", 7)]
    assert sampled.context.trace_id == 7
