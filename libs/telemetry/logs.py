"""Logs: one JSON object per line, with the trace and span id when a span is active, and no
national id numbers anywhere in them.

Redaction happens where every log record is born (a wrapped ``logging`` record factory), so it
covers all handlers, including ones other libraries install (uvicorn's access log, pytest's
capture); the formatter redacts its output once more as a second line of defence.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

from opentelemetry import trace

from libs.telemetry.redaction import contains_national_id, redact

_EXC_FORMATTER = logging.Formatter()
# LogRecord attributes that are not "extra" fields
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime",
                                                                       "_ehr_redacted"}


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact a record in place: message, arguments, exception and stack text."""
    if getattr(record, "_ehr_redacted", False):
        return record
    record._ehr_redacted = True
    if isinstance(record.msg, str):
        record.msg = redact(record.msg)
    args = record.args
    if isinstance(args, tuple):  # keep the tuple: some formatters (uvicorn's access log) read it
        record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
    elif isinstance(args, dict):
        record.args = {k: redact(v) if isinstance(v, str) else v for k, v in args.items()}
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a broken format string: logging reports it later
        message = None
    if message is not None and contains_national_id(message):
        # an argument that is not a str (an int, an object) carried the number
        record.msg, record.args = redact(message), None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = redact(_EXC_FORMATTER.formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


class RedactingFilter(logging.Filter):
    """For a handler that may see records made before the record factory was installed."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def install_record_redaction() -> None:
    """Wrap the log record factory so every record is redacted when it is created. Idempotent."""
    current = logging.getLogRecordFactory()
    if getattr(current, "_ehr_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(current(*args, **kwargs))

    factory._ehr_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def _trace_ids() -> tuple[str, str] | None:
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, service, trace_id, span_id,
    exception, and any ``extra`` fields."""

    def __init__(self, service_name: str | None = None):
        super().__init__()
        self.service_name = service_name

    def format(self, record: logging.LogRecord) -> str:
        redact_record(record)
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if self.service_name:
            out["service"] = self.service_name
        ids = _trace_ids()
        if ids:
            out["trace_id"], out["span_id"] = ids
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exception"] = redact(record.exc_text)
        if record.stack_info:
            out["stack"] = redact(record.stack_info)
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out and not key.startswith("_"):
                out[key] = _json_safe(value)
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Human-readable lines for development (``EHR_LOG_JSON=false``), redacted as well."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s%(trace)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        redact_record(record)
        ids = _trace_ids()
        record.trace = f" [{ids[0]}]" if ids else ""
        return redact(super().format(record))


_HANDLER_FLAG = "_ehr_handler"


def configure_logging(json_logs: bool, service_name: str | None = None,
                      stream: IO[str] | None = None, level: int = logging.INFO) -> logging.Handler:
    """Route the root logger to one handler on ``stream`` (stderr by default). Calling it again
    replaces the handler it installed before; handlers that others installed are kept and get
    the redacting filter."""
    install_record_redaction()
    root = logging.getLogger()
    remove_logging_handler()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(service_name) if json_logs else TextFormatter())
    handler.addFilter(RedactingFilter())
    setattr(handler, _HANDLER_FLAG, True)
    for other in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in other.filters):
            other.addFilter(RedactingFilter())
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        setattr(handler, "_ehr_previous_root_level", root.level)
        root.setLevel(level)
    return handler


def remove_logging_handler() -> None:
    """Remove the handler :func:`configure_logging` installed (and undo its root level)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, _HANDLER_FLAG, False):
            root.removeHandler(h)
            previous = getattr(h, "_ehr_previous_root_level", None)
            if previous is not None:
                root.setLevel(previous)
            h.close()
