"""Errors as FHIR ``OperationOutcome`` JSON (DESIGN.md §5), for every FastAPI service.

``install_error_handlers(app)`` maps:

=====================================  ======  ============  ==================================
exception                              status  issue code    note
=====================================  ======  ============  ==================================
RequestValidationError                 422     invalid       field locations and messages only:
                                                             input values are never echoed
HTTPException (incl. routing 404/405)  its     by status     its headers are kept
libs.events.store.ConcurrencyError     409     conflict      the version the resource is at now
libs.events.consistency.NotCaughtUp    503     transient     with ``Retry-After``
no free database connection (the pool  503     transient     with ``Retry-After``; nothing was
timed out, or the server's limit)                            done, so the client may retry
libs.events.consistency.InvalidToken   422     invalid
libs.kernel.errors.DomainError         by its  by status     Forbidden 403, NotFound 404, Conflict
                                       kind                  409, PreconditionFailed 412, Invalid
                                                             422, PreconditionRequired 428,
                                                             Unavailable 503; its ``details``
                                                             follow as issues of severity warning
any other Exception                    500     exception     "internal error" and the trace id;
                                                             the details go to the server log
=====================================  ======  ============  ==================================

Bodies are ``application/fhir+json``. Every text that reaches a client or the log passes the
national-id redactor.

Unhandled exceptions are caught by a middleware rather than left to Starlette's
``ServerErrorMiddleware``, which re-raises them to the server after answering: uvicorn would
then log the traceback a second time, with the exception's message unfiltered (a pydantic
``ValidationError`` message repeats the offending input values).
"""

from __future__ import annotations

import json
import logging
import traceback
import typing
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import pydantic
from asyncpg.exceptions import TooManyConnectionsError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError, ValidationException
from fastapi.responses import JSONResponse
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from pydantic_core.core_schema import ErrorType
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from libs.events.consistency import HEADER, InvalidToken, NotCaughtUp
from libs.events.store import ConcurrencyError
from libs.kernel import errors as k
from libs.telemetry.logs import install_record_redaction
from libs.telemetry.redaction import redact
from libs.web.fhir.search import SearchParameterError
from libs.web.limits import BODY_METHODS, BodyRefused, NulScanner, run_checked

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
MAX_ISSUES = 50


class FhirJSONResponse(JSONResponse):
    """A FHIR JSON body, written by orjson (reads and searches return whole resources; orjson
    encodes them for much less CPU than stdlib json)."""

    media_type = FHIR_JSON

    def render(self, content) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def outcome(code: str, diagnostics: str | Sequence[str], severity: str = "error") -> dict:
    """An OperationOutcome with one issue per diagnostics text."""
    texts = [diagnostics] if isinstance(diagnostics, str) else list(diagnostics)
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": severity, "code": code, "diagnostics": redact(t)}
                      for t in texts]}


def outcome_response(status_code: int, code: str, diagnostics: str | Sequence[str],
                     headers: Mapping[str, str] | None = None) -> FhirJSONResponse:
    return FhirJSONResponse(outcome(code, diagnostics), status_code=status_code,
                            headers=dict(headers) if headers else None)


# FHIR issue-type codes (http://hl7.org/fhir/issue-type) for plain HTTP errors
_CODE_BY_STATUS = {
    400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
    406: "not-supported", 409: "conflict", 410: "deleted", 412: "conflict", 413: "too-costly",
    415: "not-supported", 422: "invalid", 428: "required", 429: "throttled",
    501: "not-supported", 502: "transient", 503: "transient", 504: "timeout",
}


def code_for_status(status_code: int) -> str:
    return _CODE_BY_STATUS.get(status_code, "exception" if status_code >= 500 else "processing")


STATUS_OF_KIND: dict[type[k.DomainError], int] = {
    k.Forbidden: 403, k.NotFound: 404, k.Conflict: 409, k.PreconditionFailed: 412,
    k.Invalid: 422, k.PreconditionRequired: 428, k.Unavailable: 503,
}


def status_of(exc: k.DomainError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS_OF_KIND:
            return STATUS_OF_KIND[kind]
    return 422


def domain_outcome(exc: k.DomainError) -> tuple[int, dict]:
    """The status and OperationOutcome of a domain error: its message first, then each of its
    details (decision-support warnings, for example) as an issue of severity warning."""
    status = status_of(exc)
    body = outcome(code_for_status(status), exc.message)
    body["issue"] += [{"severity": "warning", "code": "business-rule",
                       "diagnostics": redact(str(d["text"])),
                       **({"details": {"text": str(d["code"])}} if d.get("code") else {})}
                      for d in exc.details]
    return status, body


async def _domain_error(request: Request, exc: k.DomainError) -> FhirJSONResponse:
    status, body = domain_outcome(exc)
    return FhirJSONResponse(body, status_code=status)


# -- validation ------------------------------------------------------------------------------------
def location(loc: Sequence[Any]) -> str:
    """``("body", "patient", "name", 0)`` -> ``body.patient.name[0]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "request"


# pydantic's own messages name the constraint, never the input; messages that validators write
# ("value_error", "assertion_error", custom error types) may quote it
_BUILT_IN = frozenset(typing.get_args(ErrorType)) - {"value_error", "assertion_error"}


def describe_error(err: Mapping[str, Any]) -> str:
    """One validation error as ``location: message``, without the input value (even when a
    custom validator put it in its message)."""
    where = location(err.get("loc", ()))
    if err.get("type") == "json_invalid":
        # at an element (fhir.resources: a string where an object goes), not the body's JSON
        if any(isinstance(p, str) for p in err.get("loc", ())[1:]):
            return f"{where}: not a valid value of this element's type"
        detail = (err.get("ctx") or {}).get("error")
        return "body: the request body is not valid JSON" + (f" ({detail})" if detail else "")
    msg = str(err.get("msg", "invalid value"))
    value = err.get("input")
    if err.get("type") not in _BUILT_IN and isinstance(value, (str, int, float)) \
            and not isinstance(value, bool) and str(value) and str(value) in msg:
        msg = msg.replace(str(value), "<input>")
    return f"{where}: {msg}"


def validation_diagnostics(errors: Sequence[Mapping[str, Any]]) -> list[str]:
    texts = [describe_error(e) for e in errors[:MAX_ISSUES]]
    if len(errors) > MAX_ISSUES:
        texts.append(f"... and {len(errors) - MAX_ISSUES} more problems")
    return texts or ["the request is not valid"]


async def _validation_error(request: Request, exc: RequestValidationError) -> FhirJSONResponse:
    return outcome_response(422, "invalid", validation_diagnostics(exc.errors()))


# -- everything else -------------------------------------------------------------------------------
async def _http_error(request: Request, exc: StarletteHTTPException) -> FhirJSONResponse:
    detail = exc.detail
    if isinstance(detail, Mapping) and detail.get("resourceType") == "OperationOutcome":
        body = json.loads(redact(json.dumps(detail)))
        return FhirJSONResponse(body, status_code=exc.status_code, headers=exc.headers)
    if not isinstance(detail, str):
        detail = json.dumps(detail, default=str)
    return outcome_response(exc.status_code, code_for_status(exc.status_code), detail,
                            exc.headers)


async def _conflict(request: Request, exc: ConcurrencyError) -> FhirJSONResponse:
    if exc.actual < 0:
        text = ("The resource was changed by someone else at the same time. Reload it and "
                "apply your change again.")
    elif exc.expected == 0:
        text = (f"The resource already exists (it is at version {exc.actual}); it cannot be "
                "created again.")
    else:
        text = (f"The resource was changed by someone else: it is now at version {exc.actual}, "
                f"not {exc.expected}. Reload it and apply your change again.")
    return outcome_response(409, "conflict", text)


async def _not_caught_up(request: Request, exc: NotCaughtUp) -> FhirJSONResponse:
    return outcome_response(503, "transient", str(exc), {"Retry-After": "1"})


BUSY = "The service is busy right now: nothing was changed. Try again in a moment."


async def _overloaded(request: Request, exc: Exception) -> FhirJSONResponse:
    """No database connection came free in time (the pool's queue, or the server's limit):
    the request did nothing, so it is a 503 the client may retry, not an internal error."""
    log.warning("overloaded in %s %s: %s", request.method, redact(request.url.path),
                type(exc).__qualname__)
    return outcome_response(503, "transient", BUSY, {"Retry-After": "1"})


async def _search_parameter(request: Request, exc: SearchParameterError) -> FhirJSONResponse:
    return outcome_response(422, "invalid", str(exc))


async def _invalid_token(request: Request, exc: InvalidToken) -> FhirJSONResponse:
    return outcome_response(422, "invalid", f"{HEADER}: {exc}. Send the token exactly as a "
                                            "write response returned it, or leave it out.")


def _trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def safe_exception_text(exc: BaseException) -> str:
    """The traceback, except for validation errors, whose messages repeat input values: for
    those only the error locations and types, and the frames."""
    if isinstance(exc, (pydantic.ValidationError, ValidationException)):
        errors = exc.errors()
        summary = "; ".join(f"{location(e.get('loc', ()))} ({e.get('type')})"
                            for e in errors[:20])
        frames = "".join(traceback.format_tb(exc.__traceback__))
        return redact(f"Traceback (most recent call last):\n{frames}"
                      f"{type(exc).__name__}: {len(errors)} errors: {summary}")
    return redact("".join(traceback.format_exception(exc)))


async def _unhandled(request: Request, exc: Exception) -> FhirJSONResponse:
    details = safe_exception_text(exc)
    log.error("unhandled error in %s %s\n%s", request.method, redact(request.url.path), details)
    span = trace.get_current_span()
    if span.is_recording():
        span.add_event("exception", {"exception.type": type(exc).__qualname__,
                                     "exception.stacktrace": details})
        span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))
    text = "internal error"
    trace_id = _trace_id()
    if trace_id:
        text += f" (trace id {trace_id}; quote it when you report the problem)"
    return outcome_response(500, "exception", text)


class CatchUnhandled:
    """Answer an exception no handler took with the 500 OperationOutcome, and stop it there.
    Once the response has started nothing can be sent any more: then it is re-raised."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            response = await _unhandled(Request(scope), exc)
            await response(scope, receive, send)


NUL_MESSAGE = "Text must not contain the NUL character (U+0000)."


class RefuseNul:
    """422 for a request with a NUL character (U+0000) in its path, query, headers or body,
    raw or as a JSON escape: PostgreSQL cannot store it in text or jsonb, so it would fail the
    append (a 500) or, in a header such as X-Purpose-Of-Use, the access log's whole batch.
    The body is checked chunk by chunk as the app reads it (``libs/web/limits.py``), never
    gathered here."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        query = scope.get("query_string", b"")
        if ("\x00" in scope.get("path", "") or b"\x00" in query or b"%00" in query
                or any(b"\x00" in v for _, v in scope.get("headers", ()))):
            return await _send_nul_refusal(scope, receive, send)
        if scope.get("method") not in BODY_METHODS:
            return await self.app(scope, receive, send)
        scanner = NulScanner()

        def on_chunk(chunk: bytes) -> None:
            if scanner.feed(chunk):
                raise BodyRefused(422, "invalid", NUL_MESSAGE)
        await run_checked(self.app, scope, receive, send, on_chunk)


async def _send_nul_refusal(scope: Scope, receive: Receive, send: Send) -> None:
    await outcome_response(422, "invalid", NUL_MESSAGE)(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` with an OperationOutcome."""
    install_record_redaction()
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ConcurrencyError, _conflict)
    app.add_exception_handler(k.DomainError, _domain_error)
    app.add_exception_handler(NotCaughtUp, _not_caught_up)
    app.add_exception_handler(PoolTimeout, _overloaded)
    app.add_exception_handler(TooManyConnectionsError, _overloaded)
    app.add_exception_handler(InvalidToken, _invalid_token)
    app.add_exception_handler(SearchParameterError, _search_parameter)
    app.add_exception_handler(Exception, _unhandled)  # for errors in outer middlewares
    app.add_middleware(CatchUnhandled)
    app.add_middleware(RefuseNul)
