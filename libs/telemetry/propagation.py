"""Trace context across HTTP and Kafka without a national id number riding along.

``tracestate`` is free text that any client may send; the event store keeps it in the outbox
and the relay forwards it in Kafka headers. So a ``tracestate`` that contains a national id
number is dropped when it is read and never written. W3C baggage is not propagated at all:
nothing here uses it, and it would carry whatever a client puts in it to every downstream call.
"""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.propagators.textmap import (
    CarrierT, Getter, Setter, default_getter, default_setter)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from libs.telemetry.redaction import contains_national_id

_TRACESTATE = "tracestate"


class _SafeGetter(Getter):
    def __init__(self, inner: Getter):
        self.inner = inner

    def get(self, carrier, key: str):
        values = self.inner.get(carrier, key)
        if key == _TRACESTATE and values and any(contains_national_id(v) for v in values):
            return None
        return values

    def keys(self, carrier):
        return self.inner.keys(carrier)


class _SafeSetter(Setter):
    def __init__(self, inner: Setter):
        self.inner = inner

    def set(self, carrier, key: str, value: str) -> None:
        if key == _TRACESTATE and contains_national_id(value):
            return
        self.inner.set(carrier, key, value)


class SafeTraceContextPropagator(TraceContextTextMapPropagator):
    """W3C ``traceparent`` and ``tracestate``; a ``tracestate`` with a national id is dropped."""

    def extract(self, carrier: CarrierT, context: Context | None = None,
                getter: Getter = default_getter) -> Context:
        return super().extract(carrier, context, _SafeGetter(getter))

    def inject(self, carrier: CarrierT, context: Context | None = None,
               setter: Setter = default_setter) -> None:
        super().inject(carrier, context, _SafeSetter(setter))
