"""The backbone's metrics: relay backlog, projection lag, DLQ count, events applied/published,
and the access log's group commit (entries per batch, the longest wait in a batch, batches
retried because another writer moved a chain first); and a projection batch's span.

Instruments come from the global MeterProvider, so whatever exporter ``libs.telemetry.setup``
chose receives them. Attributes are names of projections and topics only, never patient data.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.metrics import CallbackOptions, Observation

projection_tracer = trace.get_tracer("ehr.events.projection")


class Instruments:
    def __init__(self) -> None:
        meter = metrics.get_meter("ehr.events")
        self.applied = meter.create_counter(
            "ehr.projection.applied", unit="{event}", description="Events applied to read models")
        self.dlq = meter.create_counter(
            "ehr.projection.dlq", unit="{event}",
            description="Events a projection could not parse or apply (sent to <topic>.dlq)")
        self.published = meter.create_counter(
            "ehr.relay.published", unit="{event}",
            description="Outbox events acknowledged by Kafka")
        self.audit_batch = meter.create_histogram(
            "ehr.audit.batch.entries", unit="{entry}",
            description="Access-log entries committed together in one statement")
        self.audit_wait = meter.create_histogram(
            "ehr.audit.batch.wait", unit="s",
            description="From a batch's first entry queued to its commit: the longest any "
                        "request of the batch waited for its access-log entry to be durable")
        self.audit_retries = meter.create_counter(
            "ehr.audit.batch.retries", unit="{batch}",
            description="Access-log batches re-chained and written again because another "
                        "writer moved one of their chains first (writers sharing a slot)")
        self._lag: dict[str, Callable[[], int]] = {}
        self._backlog: dict[str, Callable[[], int]] = {}
        meter.create_observable_gauge(
            "ehr.projection.lag", callbacks=[self._observe_lag], unit="{event}",
            description="Records on the projection's topics not yet applied")
        meter.create_observable_gauge(
            "ehr.relay.backlog", callbacks=[self._observe_backlog], unit="{event}",
            description="Committed events not yet acknowledged by Kafka")

    def register_lag(self, projection: str, fn: Callable[[], int]) -> None:
        self._lag[projection] = fn

    def register_backlog(self, schema: str, fn: Callable[[], int]) -> None:
        self._backlog[schema] = fn

    def _observe_lag(self, _: CallbackOptions):
        return [Observation(fn(), {"projection": name}) for name, fn in self._lag.items()]

    def _observe_backlog(self, _: CallbackOptions):
        return [Observation(fn(), {"store": name}) for name, fn in self._backlog.items()]


@lru_cache
def instruments() -> Instruments:
    return Instruments()


@contextlib.contextmanager
def batch_span(projection: str, records: Sequence[Any]) -> Iterator[trace.Span]:
    """A span for a projection's batch of Kafka ``records``: child of the trace that wrote its
    first event (W3C headers), linked to the traces of the next ones (at most 100, which is all
    a backend shows). The first record's trace decides whether the span is recorded
    (parent-based sampling); the other records' headers are read only when it is: at a trace
    ratio of 0.1, nine batches in ten, reading them was 1-4 % of a projection process's CPU."""
    first = _context_of(records[0]) if records else otel_context.Context()
    with projection_tracer.start_as_current_span(
            f"projection {projection} apply", context=first,
            attributes={"ehr.projection": projection, "ehr.events": len(records)}) as span:
        if span.is_recording():
            for record in records[1:101]:
                linked = trace.get_current_span(_context_of(record)).get_span_context()
                if linked.is_valid:
                    span.add_link(linked)
        yield span


def traced(context: otel_context.Context | None = None) -> bool:
    """Whether a span under ``context`` (the current one by default) could be recorded: not
    when it continues a trace whose root was not sampled, as the parent-based sampler
    (``libs.telemetry.sampling``) would make it a non-recording span anyway; a span without a
    parent is the sampler's to decide."""
    parent = trace.get_current_span(context).get_span_context()
    return not parent.is_valid or parent.trace_flags.sampled


def child_span(tracer: trace.Tracer, name: str, **kwargs: Any
               ) -> contextlib.AbstractContextManager[Any]:
    """``tracer.start_as_current_span(name, **kwargs)`` under the current span, or nothing in a
    trace that is not sampled: starting and ending a span the sampler drops cost 17 µs
    (bench/RESULTS.md). Without it the current span stays the request's, whose trace id log
    lines and the outbox's ``traceparent`` carry as before."""
    if traced():
        return tracer.start_as_current_span(name, **kwargs)
    return contextlib.nullcontext()


def _context_of(record: Any) -> otel_context.Context:
    return propagate.extract({k: v.decode() for k, v in (record.headers or ()) if v})
