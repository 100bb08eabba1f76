"""The backbone's metrics: relay backlog, projection lag, DLQ count, events applied/published,
and the access log's group commit (entries per batch, the longest wait in a batch, batches
retried because another writer moved a chain first).

Instruments come from the global MeterProvider, so whatever exporter ``libs.telemetry.setup``
chose receives them. Attributes are names of projections and topics only, never patient data.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation


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
