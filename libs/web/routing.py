"""Routers that turn away at once the paths they do not serve (issue 17).

FastAPI tries the routes of an app's included routers one by one, in order, and for the router
that holds the match it tries them all again when handling; each try costs about 2.5 µs of
its bookkeeping around a regular expression. A FHIR read in the journal went through the 45
REST routes before it reached the FHIR router: about 75 µs of a read's 1.9 ms CPU, measured
with ``timeit`` on the route matching alone.

- ``PrefixRouter`` answers "not mine" with one string comparison for a path outside its
  prefix, so it can stand first in a service's routers at a cost of about a microsecond to
  every other request. Include it without a further prefix (``app.include_router(router)``):
  the check uses the router's own ``prefix``, and every route it holds, included ones too,
  begins with it.
- ``PathRouter`` answers with one regular expression over its routes' paths (their own
  expressions, joined), one for each method: "not mine" when no route has the path, "only
  with another method" (``Match.PARTIAL``, what FastAPI would say: a 405 unless a later router
  has path and method) when none has it with the request's method. Only then do FastAPI's
  tries begin. It holds routes only, no included router, and is included without a prefix
  (under one, none of its paths would be found: give a router its prefix as a
  ``PrefixRouter``; ``tests/web/test_routing.py`` checks every service's app); the
  expressions are made again whenever its number of routes changes.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.routing import Match, get_route_path
from starlette.types import Scope

__all__ = ["PathRouter", "PrefixRouter"]

_NAMED_GROUP = re.compile(r"\(\?P<\w+>")
_NOTHING = re.compile(r"(?!)")


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


class PathRouter(APIRouter):
    def __init__(self, **kwargs: Any) -> None:
        if kwargs.get("prefix"):
            raise ValueError("a PathRouter has no prefix: its routes' paths say it")
        super().__init__(**kwargs)
        self._paths: dict[str | None, re.Pattern[str]] = {}
        self._paths_of = -1   # the number of routes the expressions were made of

    def include_router(self, router: APIRouter, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a PathRouter holds routes only: add them to it, or include both "
                        "routers in the app")

    def paths(self, method: str | None = None) -> re.Pattern[str]:
        """One expression that matches exactly the paths some route of this router has with
        ``method`` (``None``: with any method)."""
        if self._paths_of != len(self.routes):
            by_method: dict[str | None, list[str]] = {None: []}
            for route in self.routes:
                if not isinstance(route, APIRoute):
                    raise TypeError(f"a PathRouter holds routes only, not {route!r}")
                own = route.path_regex.pattern.removeprefix("^").removesuffix("$")
                own = _NAMED_GROUP.sub("(?:", own)
                for m in (None, *route.methods):
                    by_method.setdefault(m, []).append(own)
            self._paths = {m: re.compile(f"^(?:{'|'.join(alternatives)})$")
                           for m, alternatives in by_method.items()}
            self._paths_of = len(self.routes)
        return self._paths.get(method) or _NOTHING

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        path = get_route_path(scope)
        if self.paths(scope["method"]).match(path):
            return super().matches(scope)
        if self.paths().match(path):   # its path, another method: a 405 unless a later
            return Match.PARTIAL, {}   # router has both (FastAPI matches again to answer it)
        return Match.NONE, {}
