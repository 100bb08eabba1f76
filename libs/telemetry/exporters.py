"""Span export without national id numbers, and the switchboards that let exporters be attached
and detached after the (once-per-process) providers are installed.

A SpanProcessor cannot change a span once it has ended, so redaction happens at export: the
:class:`RedactingSpanExporter` hands its delegate copies of the spans whose name, attributes,
event names and attributes (exception messages and stack traces), link attributes or status
description carried a national id number.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status

from libs.telemetry.redaction import redact, redact_attributes


class _RedactedSpan(ReadableSpan):
    """A copy of a span with redacted texts; drop counts are the original's."""

    def __init__(self, original: ReadableSpan, **changes):
        fields = dict(
            name=original.name, context=original.context, parent=original.parent,
            resource=original.resource, attributes=original.attributes, events=original.events,
            links=original.links, kind=original.kind, status=original.status,
            start_time=original.start_time, end_time=original.end_time,
            instrumentation_scope=original.instrumentation_scope)
        fields.update(changes)
        super().__init__(**fields)
        self._original = original

    @property
    def dropped_attributes(self) -> int:
        return self._original.dropped_attributes

    @property
    def dropped_events(self) -> int:
        return self._original.dropped_events

    @property
    def dropped_links(self) -> int:
        return self._original.dropped_links


def redact_span(span: ReadableSpan) -> ReadableSpan:
    """The span itself when it carries no national id number, otherwise a redacted copy."""
    changes: dict = {}
    name = redact(span.name)
    if name != span.name:
        changes["name"] = name
    attrs = redact_attributes(span.attributes)
    if attrs is not None:
        changes["attributes"] = attrs
    events, events_changed = [], False
    for ev in span.events:
        ev_name, ev_attrs = redact(ev.name), redact_attributes(ev.attributes)
        if ev_name != ev.name or ev_attrs is not None:
            events_changed = True
            ev = Event(ev_name, ev_attrs if ev_attrs is not None else ev.attributes,
                       ev.timestamp)
        events.append(ev)
    if events_changed:
        changes["events"] = tuple(events)
    links, links_changed = [], False
    for link in span.links:
        link_attrs = redact_attributes(link.attributes)
        if link_attrs is not None:
            links_changed = True
            link = Link(link.context, link_attrs)
        links.append(link)
    if links_changed:
        changes["links"] = tuple(links)
    desc = span.status.description
    if desc and redact(desc) != desc:
        changes["status"] = Status(span.status.status_code, redact(desc))
    return _RedactedSpan(span, **changes) if changes else span


class RedactingSpanExporter(SpanExporter):
    """Wraps an exporter so that no national id number leaves the process in a span."""

    def __init__(self, delegate: SpanExporter):
        self.delegate = delegate

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.delegate.export([redact_span(s) for s in spans])

    def shutdown(self) -> None:
        self.delegate.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.delegate.force_flush(timeout_millis)


class SpanProcessorSwitch(SpanProcessor):
    """The one processor installed on the TracerProvider; processors behind it can be added
    and removed at any time (the provider itself cannot be replaced once it is global)."""

    def __init__(self) -> None:
        self._processors: tuple[SpanProcessor, ...] = ()
        self._lock = threading.Lock()

    @property
    def processors(self) -> tuple[SpanProcessor, ...]:
        return self._processors

    def add(self, processor: SpanProcessor) -> None:
        with self._lock:
            self._processors = (*self._processors, processor)

    def remove(self, processor: SpanProcessor) -> None:
        with self._lock:
            self._processors = tuple(p for p in self._processors if p is not processor)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        for p in self._processors:
            p.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        for p in self._processors:
            p.on_end(span)

    def shutdown(self) -> None:
        for p in self._processors:
            p.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all([p.force_flush(timeout_millis) for p in self._processors])


class MetricExporterSwitch(MetricExporter):
    """The exporter behind the MeterProvider's one periodic reader; exporters behind it can be
    added and removed at any time. Temporality is cumulative (what OTLP and console expect)."""

    def __init__(self) -> None:
        super().__init__()
        self._exporters: tuple[MetricExporter, ...] = ()
        self._lock = threading.Lock()

    @property
    def exporters(self) -> tuple[MetricExporter, ...]:
        return self._exporters

    def add(self, exporter: MetricExporter) -> None:
        with self._lock:
            self._exporters = (*self._exporters, exporter)

    def remove(self, exporter: MetricExporter) -> None:
        with self._lock:
            self._exporters = tuple(e for e in self._exporters if e is not exporter)

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000,
               **kwargs) -> MetricExportResult:
        result = MetricExportResult.SUCCESS
        for e in self._exporters:
            if e.export(metrics_data, timeout_millis=timeout_millis) != MetricExportResult.SUCCESS:
                result = MetricExportResult.FAILURE
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return all([e.force_flush(timeout_millis) for e in self._exporters])

    def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:
        for e in self._exporters:
            e.shutdown(timeout_millis=timeout_millis)
