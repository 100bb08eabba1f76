"""A FHIR interaction's request read in one dependency: its path ids, its query (a
``QueryModel``), the caller and, if it takes one, the purpose of use.

A read by id declared ``rtype: str, rid: str, who: CurrentSubject, access: AccessDep, q: Read``
had FastAPI solve two path parameters and three dependencies on every request (a dependency
~9 µs, a path parameter ~4–6 µs, measured in-process with FastAPI 0.163; bench/RESULTS.md), a
search one more dependency and a bounded header besides. Read here, they are one dependency.
What the client sees stays the same:

- the caller is checked first (401/403 before anything else), then the query (its 422), then
  the purpose header (a 422 above its bound, as FastAPI's ``max_length`` gave);
- path values are Starlette's, as a declared ``str`` took them;
- the OpenAPI document names the same parameters (``openapi_parameters``, and the caller's
  headers since the dependency is marked ``ehr_reads_subject``: ``libs.web.subject_doc``).

    READ = fhir_call(QueryModel(ReadParams), "rtype", "rid")
    async def read(request: Request, call: Annotated[FhirCall, Depends(READ)]): ...
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from libs.web.by_hand import bounded_header, bounded_header_parameter, string_path_parameter
from libs.web.guard import PURPOSE, Subject, current_subject
from libs.web.query import QueryModel

PURPOSE_MAX = 200


@dataclass(frozen=True)
class FhirCall:
    """The request of one interaction: its path values (in the order named), its query, the
    caller and the purpose of use it states (None if none, or if the interaction takes none)."""

    path: tuple[str, ...]
    query: Any
    who: Subject
    purpose: str | None = None


def fhir_call(query: QueryModel, *path: str,
              purpose: bool = False) -> Callable[[Request], Awaitable[FhirCall]]:
    """The dependency for an interaction with these path parameters and this query; with
    ``purpose``, it reads ``X-Purpose-Of-Use`` (at most 200 characters) too."""

    async def call(request: Request) -> FhirCall:
        who = await current_subject(request)
        q = await query(request)
        stated = bounded_header(request, PURPOSE, PURPOSE_MAX) if purpose else None
        values = request.path_params
        return FhirCall(tuple(values[name] for name in path), q, who, stated)

    call.openapi_parameters = (   # type: ignore[attr-defined]
        *(string_path_parameter(name) for name in path), *query.openapi_parameters,
        *((bounded_header_parameter(PURPOSE, PURPOSE_MAX),) if purpose else ()))
    call.ehr_reads_subject = True   # type: ignore[attr-defined]
    return call
