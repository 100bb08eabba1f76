"""A router that turns away paths outside its prefix at once (issue 17).

FastAPI tries the routes of an app's included routers one by one, in order, and for the router
that holds the match it tries them all again when handling. A FHIR read in the journal went
through the 45 REST routes before it reached the FHIR router: about 75 µs of a read's 1.9 ms
CPU, measured with ``timeit`` on the route matching alone. ``PrefixRouter`` answers "not mine"
with one string comparison for a path outside its prefix, so it can stand first in a service's
routers at a cost of about a microsecond to every other request.

Include it without a further prefix (``app.include_router(router)``): the check uses the
router's own ``prefix``, and every route it holds, included ones too, begins with it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.routing import Match, get_route_path
from starlette.types import Scope

__all__ = ["PrefixRouter"]


class PrefixRouter(APIRouter):
    def __init__(self, *, prefix: str, **kwargs: Any) -> None:
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ValueError(f"a prefix such as '/fhir', not {prefix!r}")
        super().__init__(prefix=prefix, **kwargs)
        self._under = prefix + "/"

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] in ("http", "websocket"):
            path = get_route_path(scope)
            if path != self.prefix and not path.startswith(self._under):
                return Match.NONE, {}
        return super().matches(scope)
