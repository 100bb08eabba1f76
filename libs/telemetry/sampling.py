"""Which traces are recorded (DESIGN.md §6): ``settings.otel_trace_ratio`` of them, decided by
the trace id at the trace's root and followed by every span under it, here and in the next
service (parent-based: a request whose caller recorded its trace is recorded, one whose caller
did not is not). The others keep their trace ids, so the traceparent still reaches the outbox
and every log line still names its trace.

A request that fails (a 5xx answer, or an exception that escapes) is recorded whatever its
trace's luck: :class:`libs.telemetry.http.ServerSpans` then writes one server span for it
through an always-sampling provider, in the same trace (``ehr.trace_sampled`` false says why
the spans under it are missing).

Why sample: spans are the dearest telemetry a request makes. A FHIR read's server span and
the access log's append span cost about 56 µs of CPU at 1.0 and 24 µs at 0.1 (9 with no
SDK), before an exporter encodes and sends them (``python -m bench.overhead``, issue 17).
The settings' default is 1.0 (every trace, as before); the chart's is
``telemetry.traceRatio``.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (ALWAYS_ON, ParentBased, Sampler, SamplingResult,
                                              TraceIdRatioBased)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes


class TraceRatio(Sampler):
    """The SDK's parent-based ratio sampler, with a ratio the settings can set again: the
    tracer provider is installed once per process, ``setup_telemetry`` may run more than once
    (tests, a reconfigured process)."""

    def __init__(self, ratio: float = 1.0):
        self.ratio, self._sampler = 1.0, ParentBased(ALWAYS_ON)
        self.set(ratio)

    def set(self, ratio: float) -> None:
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"a trace ratio is between 0 and 1, not {ratio}")
        self._sampler = ParentBased(ALWAYS_ON if ratio >= 1.0 else TraceIdRatioBased(ratio))
        self.ratio = ratio

    def should_sample(self, parent_context: Context | None, trace_id: int, name: str,
                      kind: SpanKind | None = None, attributes: Attributes = None,
                      links: Sequence[Link] | None = None,
                      trace_state: TraceState | None = None) -> SamplingResult:
        return self._sampler.should_sample(parent_context, trace_id, name, kind, attributes,
                                           links, trace_state)

    def get_description(self) -> str:
        return f"TraceRatio{{{self.ratio}}}"
