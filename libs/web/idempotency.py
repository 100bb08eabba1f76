"""``Idempotency-Key`` on every write (README, "Writes"): a client that may send a command twice
(a retry after a lost answer, an offline queue sent again) names it with a key, and the write
is applied once.

- The key (1 to 128 characters of ``A-Z a-z 0-9 . _ ~ + / = : -``; anything else is a 400) is
  scoped by the caller (the actor the events name) and the route: two callers, or two routes,
  never share a key.
- It is recorded in the SAME transaction as the events it appended, with the answer (status,
  body, ETag, consistency token): a crash either loses both or keeps both, so a command is never
  half done. A concurrent repeat waits on the key's row until the first commits, then gets its
  answer; if the first fails (a refusal, a stale version, a crash) nothing is recorded and a
  repeat is decided afresh.
- A repeat answers what the first one answered, with ``Idempotent-Replayed: true``, and appends
  nothing. The same key with a different request (method, path, query or body) is a 422.

On the in-memory event store (handler tests) the keys live in memory, with the same answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import HTTPException, Request, Response
from fastapi.encoders import jsonable_encoder
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.events.consistency import HEADER as TOKEN_HEADER
from libs.events.ports import AppendResult, EventContext
from libs.events.streams import Decide, StreamStore, decided, retried
from libs.kernel.errors import Invalid, PreconditionFailed

KEY_HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
KEY_HELP = ("A key naming this command (e.g. a random UUID): a repeat with the same key is "
            "answered as the first was and writes nothing again. 1-128 characters of "
            "A-Z a-z 0-9 . _ ~ + / = : -")
_KEY = re.compile(r"[A-Za-z0-9._~+/=:-]{1,128}")
TABLE = "idempotency_keys"
_DDL = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    scope text NOT NULL, key text NOT NULL, fingerprint text NOT NULL, status int NOT NULL,
    body jsonb NOT NULL, etag text, token text,
    recorded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (scope, key))"""
_CLAIM = f"""INSERT INTO {TABLE} (scope, key, fingerprint, status, body)
    VALUES (:s, :k, :f, 0, '{{}}'::jsonb) ON CONFLICT DO NOTHING RETURNING 1"""
_FIRST = f"SELECT fingerprint, status, body::text, etag, token FROM {TABLE} " \
         "WHERE scope = :s AND key = :k"
_ANSWERED = f"""UPDATE {TABLE} SET status = :st, body = CAST(:b AS jsonb), etag = :e, token = :t
    WHERE scope = :s AND key = :k"""

_ready: weakref.WeakSet = weakref.WeakSet()          # engines whose schema has the table
_memory: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # in-memory store -> keys


@dataclass(frozen=True)
class Idempotency:
    """A write's key, its scope (caller and route, hashed) and the request's fingerprint."""

    scope: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class First:
    """The answer recorded with a key."""

    fingerprint: str
    status: int
    body: dict[str, Any]
    etag: str | None
    token: str | None


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\x00")
    return h.hexdigest()


async def requested(request: Request, caller: str, raw: str | None) -> Idempotency | None:
    """The request's ``Idempotency-Key``, or None; a malformed one is a 400."""
    if raw is None:
        return None
    key = raw.strip()
    if not _KEY.fullmatch(key):
        raise HTTPException(400, f"{KEY_HEADER} must be 1 to 128 characters of A-Z a-z 0-9 "
                                 ". _ ~ + / = : - (a random UUID is a good key).")
    route = request.scope.get("route")
    template = getattr(route, "path", request.url.path)
    try:
        body = await request.body()
    except RuntimeError:   # a form already read: its fields are the request
        body = json.dumps(sorted((await request.form()).multi_items())).encode()
    return Idempotency(scope=_digest(caller, request.method, template), key=key,
                       fingerprint=_digest(request.method, request.url.path,
                                           request.url.query, body))


def replay(response: Response, idem: Idempotency, first: First) -> dict[str, Any]:
    """The first answer again; a different request under the same key is a 422."""
    if first.fingerprint != idem.fingerprint:
        raise Invalid(f"This {KEY_HEADER} was used for a different request (another body, "
                      "path or query). A key names one request: send a new key for a new one.")
    response.status_code = first.status
    response.headers[REPLAYED] = "true"
    if first.etag:
        response.headers["ETag"] = first.etag
    if first.token:
        response.headers[TOKEN_HEADER] = first.token
    return first.body


Answer = Callable[[AppendResult | None], dict[str, Any]]


async def apply_once(idem: Idempotency, streams: StreamStore, patient_id: UUID, decide: Decide,
                     ctx: EventContext, expected: int | None, response: Response,
                     answer: Answer, stale: Callable[[int], PreconditionFailed]) -> dict[str, Any]:
    """Decide and append with the key recorded in the same transaction (see the module)."""
    engine: AsyncEngine | None = getattr(streams.store, "engine", None)
    if engine is None:
        return await _in_memory(idem, streams, patient_id, decide, ctx, expected, response,
                                answer, stale)
    await _setup(engine)
    ids = {"s": idem.scope, "k": idem.key}

    async def attempt() -> dict[str, Any]:
        async with engine.begin() as conn:
            if (await conn.execute(text(_CLAIM), ids | {"f": idem.fingerprint})).first() is None:
                row = (await conn.execute(text(_FIRST), ids)).one()
                first = First(row[0], row[1], json.loads(row[2]), row[3], row[4])
                return replay(response, idem, first)
            state, version = await streams.current(patient_id)
            if expected is not None and expected != version:
                raise stale(version)
            payloads = await decided(decide, state)
            result = None if not payloads else await streams.store.append_in(
                conn, streams.stream_of(patient_id), version, payloads, ctx)
            body = answer(result)
            await conn.execute(text(_ANSWERED), ids | {
                "st": response.status_code, "b": json.dumps(jsonable_encoder(body)),
                "e": response.headers.get("ETag"), "t": response.headers.get(TOKEN_HEADER)})
        if payloads:
            await streams.fold_in(patient_id, version, state, payloads)
        return body

    return await retried(attempt, expected, stale)


async def _setup(engine: AsyncEngine) -> None:
    if engine in _ready:
        return
    try:
        async with engine.begin() as conn:
            await conn.execute(text(_DDL))
    except DBAPIError:   # another request created it at the same moment
        async with engine.begin() as conn:
            await conn.execute(text(_DDL))
    _ready.add(engine)


async def _in_memory(idem: Idempotency, streams: StreamStore, patient_id: UUID, decide: Decide,
                     ctx: EventContext, expected: int | None, response: Response,
                     answer: Answer, stale: Callable[[int], PreconditionFailed]
                     ) -> dict[str, Any]:
    lock, keys = _memory.setdefault(streams.store, (asyncio.Lock(), {}))
    async with lock:   # one write at a time, so a concurrent repeat finds the first's answer
        if (first := keys.get((idem.scope, idem.key))) is not None:
            return replay(response, idem, first)
        try:
            result = await streams.execute(patient_id, decide, ctx.actor, purpose=ctx.purpose,
                                           expected_version=expected)
        except PreconditionFailed as exc:
            raise stale(exc.current) from None
        body = answer(result)
        keys[(idem.scope, idem.key)] = First(idem.fingerprint, response.status_code, body,
                                             response.headers.get("ETag"),
                                             response.headers.get(TOKEN_HEADER))
        return body

