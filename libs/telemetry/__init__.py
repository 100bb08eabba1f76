"""OpenTelemetry for every process: traces, metrics and JSON logs, with national id numbers
kept out of logs, spans and propagated trace context (DESIGN.md §3, §6)."""

from libs.telemetry.exporters import RedactingSpanExporter, redact_span
from libs.telemetry.http import NATIVE_TELEMETRY_OFF
from libs.telemetry.logs import JsonFormatter, RedactingFilter, configure_logging, redact_record
from libs.telemetry.propagation import SafeTraceContextPropagator
from libs.telemetry.redaction import MASK, contains_national_id, redact
from libs.telemetry.setup import (
    Telemetry, current, instrument_app, instrument_engine, setup_telemetry, shutdown,
    shutdown_telemetry)

__all__ = [
    "MASK", "NATIVE_TELEMETRY_OFF", "JsonFormatter", "RedactingFilter", "RedactingSpanExporter",
    "SafeTraceContextPropagator", "Telemetry", "configure_logging", "contains_national_id",
    "current", "instrument_app", "instrument_engine", "redact", "redact_record", "redact_span",
    "setup_telemetry", "shutdown", "shutdown_telemetry",
]
