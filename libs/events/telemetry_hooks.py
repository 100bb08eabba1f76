"""The backbone's metrics: relay backlog, projection lag, DLQ count, events applied/published,
and the access log's group commit (entries per batch, the longest wait in a batch, batches
retried because another writer moved a chain first); and a projection batch's span.

Instruments come from the global MeterProvider, so whatever exporter ``libs.telemetry.setup``
chose receives them. Attributes are names of projections and topics only, never patient data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def batch_span(projection: str, records: Sequence[Any]):
    """A span for a projection's batch of Kafka ``records``: child of the trace that wrote its
    first event (W3C headers), linked to the traces of the next ones (at most 100, which is all
    a backend shows)."""
    contexts = [propagate.extract({k: v.decode() for k, v in (r.headers or ()) if v})
                for r in records[:101]]
    links = [trace.Link(sc) for sc in (trace.get_current_span(c).get_span_context()
                                       for c in contexts[1:]) if sc.is_valid]
    return projection_tracer.start_as_current_span(
        f"projection {projection} apply",
        context=contexts[0] if contexts else otel_context.Context(), links=links,
        attributes={"ehr.projection": projection, "ehr.events": len(records)})
