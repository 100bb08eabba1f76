"""Read your writes over HTTP (DESIGN.md §2).

A write answers with its consistency token in the ``X-Consistency-Token`` header
(:func:`set_consistency_token`). A read passes it back, in that header or as the query
parameter ``consistency_token``, and :func:`consistent_read` waits (bounded by
``settings.consistency_wait_s``) until the read model has applied the write. If it has not, the
request fails with ``NotCaughtUp`` (503 + Retry-After by :mod:`libs.web.errors`); a malformed
token fails with ``InvalidToken`` (422)::

    @app.post("/accounts", status_code=201)
    async def open_account(body: Open, response: Response):
        result = await store.append(...)
        set_consistency_token(response, result)

    @app.get("/accounts/{id}")
    async def get_account(id: UUID, _=Depends(consistent_read("bank_balances", get_engine))):
        ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.events.consistency import HEADER, ConsistencyToken, wait_until_applied
from libs.events.store import AppendResult

QUERY_PARAM = "consistency_token"
DEFAULT_WAIT_S = 3.0   # settings.consistency_wait_s's default


def set_consistency_token(response: Response,
                          token: ConsistencyToken | AppendResult | str) -> str:
    """Put a write's token in the response header; returns the encoded token."""
    if isinstance(token, AppendResult):
        token = token.token
    encoded = token.encode() if isinstance(token, ConsistencyToken) else token
    response.headers[HEADER] = encoded
    return encoded


HEADER_DOC = "Token from a write response: wait until this read reflects that write"
QUERY_DOC = f"The same as the {HEADER} header, for clients that cannot set headers"


def _decoded(raw: str | None) -> ConsistencyToken | None:
    if raw is None or not raw.strip():
        return None
    return ConsistencyToken.decode(raw.strip())


async def requested_token(   # async: a plain def would cost a thread hop per request
    header: Annotated[str | None, Header(alias=HEADER, description=HEADER_DOC)] = None,
    query: Annotated[str | None, Query(alias=QUERY_PARAM, description=QUERY_DOC)] = None,
) -> ConsistencyToken | None:
    """The token the client sent (header first), decoded; raises ``InvalidToken``."""
    return _decoded(header or query)


def token_in(request: Request) -> ConsistencyToken | None:
    """``requested_token`` read from the request itself (for ``current_subject``)."""
    return _decoded(request.headers.get(HEADER) or request.query_params.get(QUERY_PARAM))


def consistent_read(projection: str, engine_getter: Callable[..., AsyncEngine] | AsyncEngine,
                    wait_s: float = DEFAULT_WAIT_S) -> Callable[..., Any]:
    """A dependency that waits until ``projection`` has applied the client's write.

    ``engine_getter`` is itself used as a dependency (so it may take ``Request`` or other
    dependencies), or is the engine. ``wait_s`` is the service's
    ``consistency_wait_s`` (its composition root passes it). The dependency returns the token, or ``None`` when none was sent.
    """
    if isinstance(engine_getter, AsyncEngine):
        engine = engine_getter

        def engine_getter() -> AsyncEngine:
            return engine

    # defaults, not Annotated[...]: string annotations cannot name the closure's engine_getter
    async def wait_for_write(
        token: ConsistencyToken | None = Depends(requested_token),
        engine: AsyncEngine = Depends(engine_getter),
    ) -> ConsistencyToken | None:
        if token is not None:
            await wait_until_applied(engine, projection, token, wait_s)
        return token

    wait_for_write.__name__ = f"consistent_read_{projection}"
    return wait_for_write


def written(response: Response, result: AppendResult, body: dict[str, Any],
            status: int = 201) -> dict[str, Any]:
    """The answer to a write: its consistency token in the header and the body (201 for what
    it created, 200 for a change)."""
    set_consistency_token(response, result)
    response.status_code = status
    return body | {"consistency_token": result.token.encode()}
