"""Parameters read by hand, in the OpenAPI document. ``current_subject`` reads
``Authorization``, ``X-Acting-For`` and the consistency token from the request itself, the
guards and the write dependency their patient id and headers (``libs.web.by_hand``), and a
``libs.web.query.QueryModel`` reads a route's query parameters in one validation (all cheaper
than FastAPI's solving of declared parameters), so FastAPI no longer sees them:
``document_subject`` adds them, as FastAPI described them when they were declared, to every
operation whose route depends on ``current_subject`` (or on a dependency marked
``ehr_reads_subject`` that calls it itself) or on such a dependency (anything with
``openapi_parameters``) at any depth. Clients, generated SDKs and the fuzz tests see the same
parameters as before."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from libs.events.consistency import HEADER
from libs.web.by_hand import optional_string
from libs.web.consistency import HEADER_DOC, QUERY_DOC, QUERY_PARAM
from libs.web.guard import ACTING_FOR, current_subject


SUBJECT_PARAMETERS = (
    optional_string(QUERY_PARAM, "query", QUERY_DOC, "Consistency Token"),
    optional_string("authorization", "header", "Bearer token", "Authorization"),
    optional_string(ACTING_FOR, "header", "Patient id of the person a citizen acts for (a "
                    "child, a mandate giver)", ACTING_FOR),
    optional_string(HEADER, "header", HEADER_DOC, HEADER),
)


_INVALID = {"description": "Validation Error", "content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/HTTPValidationError"}}}}   # as FastAPI describes its 422


def _reads_subject(dependant: Dependant) -> bool:
    """Whether the route depends on ``current_subject``, or on a dependency that calls it
    itself (marked ``ehr_reads_subject``: ``libs.web.fhir.call``), at any depth."""
    return any(d.call is current_subject or getattr(d.call, "ehr_reads_subject", False)
               or _reads_subject(d) for d in dependant.dependencies)


def _read_by_hand(dependant: Dependant) -> Iterator[dict]:
    """The parameters the route's dependencies read themselves (repeats are dropped later)."""
    if _reads_subject(dependant):
        yield from SUBJECT_PARAMETERS

    def walk(d: Dependant) -> Iterator[dict]:
        for sub in d.dependencies:
            yield from getattr(sub.call, "openapi_parameters", ())
            yield from walk(sub)
    yield from walk(dependant)


def documented_operations(app: FastAPI) -> Iterator[tuple[str, str, list[dict]]]:
    """(path, method, parameters read by hand) of every documented operation that has any."""
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and route.include_in_schema:
            params = list(_read_by_hand(route.dependant))
            if params:
                for method in sorted(route.methods):
                    yield route.path_format, method.lower(), params


def document_subject(app: FastAPI) -> None:
    """Wrap ``app.openapi`` so the document names the parameters read by hand (module
    docstring)."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:   # built and documented already: FastAPI keeps the document
            return app.openapi_schema
        document = build()
        for path, method, read in documented_operations(app):
            operation = document["paths"].get(path, {}).get(method)
            if operation is None:
                continue
            params = operation.setdefault("parameters", [])
            named = {(p["name"].lower(), p["in"]) for p in params}
            for p in read:   # a dependency met twice, or a parameter also declared: once
                if (p["name"].lower(), p["in"]) not in named:
                    named.add((p["name"].lower(), p["in"]))
                    params.append(dict(p))
            operation.setdefault("responses", {}).setdefault("422", _INVALID)  # a bad value
        return document

    app.openapi = openapi   # type: ignore[method-assign]
