"""Bounded requests (issue 12), checked as the body streams in, for every service.

``BoundedRequests`` (installed by ``service_app`` with ``settings.max_body_bytes``):

- a body larger than the limit is a 413: a ``Content-Length`` over it is answered before the
  body is read; a body without one (chunked) is counted as it arrives and refused at the chunk
  that passes the limit, without reading the rest;
- a JSON body with a key twice in one object is a 422 naming where (``body.entry[3].resource:
  the key 'code' appears more than once``), instead of "the last one wins".

``RefuseNul`` (``libs/web/errors.py``) checks each chunk as it arrives with ``NulScanner``,
which also finds a ``\\u0000`` escape split across two chunks.

A refusal is raised *from* ``receive``: FastAPI reads and parses the body before it solves the
route's dependencies, so nothing has been decided or written, and the exception handlers
answer it (``HTTPException`` with an OperationOutcome). Should it escape anyway, the middleware
answers it itself when no response has started.

``require_bundle_size`` is the FHIR Bundle's entry limit (``settings.max_bundle_entries``),
checked by the route before any work.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from email.message import Message as MimeMessage
from typing import Any

from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from libs.telemetry.redaction import redact

FHIR_JSON = "application/fhir+json"
BODY_METHODS = ("POST", "PUT", "PATCH")


def refusal(status: int, code: str, text: str) -> dict:
    """The OperationOutcome of a refused body (a key it names passes the national-id
    redactor)."""
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": redact(text)}]}


class BodyRefused(HTTPException):
    """The request's body is refused (413 too large, 422 a NUL or a duplicate key)."""

    def __init__(self, status: int, code: str, text: str):
        super().__init__(status, detail=refusal(status, code, text))


def too_large(limit: int) -> BodyRefused:
    return BodyRefused(413, "too-costly", f"The request body is larger than {limit} bytes, "
                                          "the most this service takes in one request.")


def require_bundle_size(bundle: Any, limit: int) -> None:
    """413 when a Bundle holds more than ``limit`` entries (before anything is mapped)."""
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    if isinstance(entries, list) and len(entries) > limit:
        raise BodyRefused(413, "too-costly",
                          f"The Bundle has {len(entries)} entries; the most this service takes "
                          f"in one Bundle is {limit}. Send it as several Bundles.")


# --- NUL, streaming ------------------------------------------------------------------------

_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_OPEN_ENDS = tuple(b"\\" + b"u0000"[:k] for k in range(5))   # a backslash, then a begun u0000


class NulScanner:
    """Finds a raw NUL byte or the JSON escape ``\\u0000`` (an odd run of backslashes, then
    ``u0000``) in a body given chunk by chunk. What a chunk leaves open (its trailing run of
    backslashes, kept as one or two by parity, and a begun ``u000``) is carried into the
    next, so an escape split across chunks is found and the carry stays a few bytes."""

    def __init__(self) -> None:
        self.carry = b""

    def feed(self, chunk: bytes) -> bool:
        """True when the body so far holds a NUL."""
        if b"\x00" in chunk:
            return True
        window = self.carry + chunk
        # the substring test (C speed) spares the regex almost every body, which has no u0000
        if b"u0000" in window and _ESCAPED_NUL.search(window):
            return True
        run, rest = _open_end(window)
        # an odd run escapes what follows: carry it (as one backslash) with the begun "u000";
        # an even run escapes nothing yet, but the next chunk may lengthen it
        self.carry = (b"\\" * (2 - run % 2) + rest) if run and (run % 2 or not rest) else b""
        return False


def _open_end(window: bytes) -> tuple[int, bytes]:
    """The trailing run of backslashes of ``window`` (its length) and what follows it when that
    is the beginning of ``u0000`` (``u``, ``u0``, ``u00``, ``u000``): what a next chunk may
    complete into an escaped NUL. ``(0, b"")`` when nothing is open."""
    if not window.endswith(_OPEN_ENDS):   # almost every chunk: nothing to copy or strip
        return 0, b""
    for k in (4, 3, 2, 1, 0):
        rest = window[len(window) - k:] if k else b""
        if k and (len(window) < k or not b"u0000".startswith(rest)):
            continue
        head = window[:len(window) - k]
        if run := len(head) - len(head.rstrip(b"\\")):
            return run, rest
    return 0, b""


# --- duplicate keys --------------------------------------------------------------------------

class _Pairs(dict):
    duplicate: str | None = None


def _pairs(pairs: list[tuple[str, Any]]) -> dict:
    out = _Pairs(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        out.duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))
    return out


def _find(value: Any, where: str) -> str | None:
    if isinstance(value, _Pairs):
        if value.duplicate is not None:
            return f"{where}: the key '{value.duplicate[:80]}' appears more than once"
        for key, item in value.items():
            if (found := _find(item, f"{where}.{key[:80]}")) is not None:
                return found
    elif isinstance(value, list):
        for n, item in enumerate(value):
            if (found := _find(item, f"{where}[{n}]")) is not None:
                return found
    return None


def duplicate_key(body: bytes) -> str | None:
    """Where a JSON body has a key twice in one object, or None (also for a body that is not
    JSON: the route's own parsing answers that)."""
    found = False

    def hook(pairs: list[tuple[str, Any]]) -> dict:
        nonlocal found
        d = _pairs(pairs)
        found = found or d.duplicate is not None
        return d
    try:
        value = json.loads(body, object_pairs_hook=hook)
    except (ValueError, RecursionError):
        return None
    if not found:
        return None
    try:
        return _find(value, "body")
    except RecursionError:
        return "body: a key appears more than once in one object"


def is_json(scope: Scope) -> bool:
    """As FastAPI (strict content type, its default) decides to parse a body as JSON:
    application/json or application/*+json."""
    raw = next((v for k, v in scope.get("headers", ()) if k == b"content-type"), None)
    if raw is None:
        return False
    m = MimeMessage()
    m["content-type"] = raw.decode("latin-1")
    sub = m.get_content_subtype()
    return m.get_content_maintype() == "application" and (sub == "json" or sub.endswith("+json"))


# --- the middleware ----------------------------------------------------------------------------

def content_length(scope: Scope) -> int | None:
    raw = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), None)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


async def run_checked(app: ASGIApp, scope: Scope, receive: Receive, send: Send,
                      on_chunk: Callable[[bytes], None],
                      on_end: Callable[[], None] | None = None) -> None:
    """Run ``app`` with a ``receive`` that passes each body chunk to ``on_chunk`` (and calls
    ``on_end`` after the last) before the app sees it; they raise ``BodyRefused`` to refuse."""
    started = False

    async def checked_receive() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            on_chunk(message.get("body", b""))
            if on_end is not None and not message.get("more_body", False):
                on_end()
        return message

    async def tracking_send(message: Message) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await app(scope, checked_receive, tracking_send)
    except BodyRefused as exc:
        if started:
            raise
        await JSONResponse(exc.detail, exc.status_code, media_type=FHIR_JSON)(scope, receive, send)


class BoundedRequests:
    """413 for a body over ``max_body_bytes`` (Content-Length first, then counted as it
    streams), 422 for duplicate keys in a JSON body."""

    def __init__(self, app: ASGIApp, max_body_bytes: int):
        self.app, self.limit = app, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in BODY_METHODS:
            return await self.app(scope, receive, send)
        declared = content_length(scope)
        if declared is not None and declared > self.limit:
            exc = too_large(self.limit)
            headers = {"Connection": "close"}
            return await JSONResponse(exc.detail, 413, headers=headers,
                                      media_type=FHIR_JSON)(scope, receive, send)
        chunks: list[bytes] | None = [] if is_json(scope) else None
        size = 0

        def on_chunk(chunk: bytes) -> None:
            nonlocal size
            size += len(chunk)
            if size > self.limit:
                raise too_large(self.limit)
            if chunks is not None and chunk:
                chunks.append(chunk)

        def on_end() -> None:
            if chunks and (where := duplicate_key(b"".join(chunks))) is not None:
                raise BodyRefused(422, "invalid", f"{where} (a key may appear only once in "
                                                  "an object).")
            if chunks is not None:
                chunks.clear()

        await run_checked(self.app, scope, receive, send, on_chunk, on_end)
