"""FHIR RESTful writes answered the same way in every service: ``Prefer: return=minimal |
representation | OperationOutcome``, the ``Location`` and ``ETag`` of a created or updated
resource, and the answer to an interaction the record does not offer (replacing or deleting an
entry), which says what the record does instead.

The write itself goes through the service's write dependency (``libs/web/write.py``): the same
guard, access log and If-Match rule as its REST writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from fastapi import APIRouter, Response
from starlette.requests import Request

from libs.web.errors import FhirJSONResponse, outcome, outcome_response
from libs.web.fhir.reads import FhirReads, etag_headers, fhir_base
from libs.web.guard import AccessDep, CurrentSubject

RETURNS = ("minimal", "representation", "OperationOutcome")


def prefer_return(header: str | None) -> str:
    """What ``Prefer`` asks a write to return (``return=...``; representation by default)."""
    for part in (header or "").replace(";", ",").split(","):
        name, _, value = part.partition("=")
        if name.strip().lower() == "return" and value.strip().strip('"') in RETURNS:
            return value.strip().strip('"')
    return "representation"


def write_answer(request: Request, rtype: str, rid: str, version: str, resource: dict | None,
                 prefer: str, *, status: int = 201,
                 headers: Mapping[str, str] | None = None) -> Response:
    """The answer to a create (201) or update (200): ``Location`` of the new version and its
    ``ETag``; the body as ``Prefer`` asks (the resource, an OperationOutcome, or none). Without
    the resource (not readable yet), the OperationOutcome says where it will be."""
    location = f"{fhir_base(request)}/{rtype}/{rid}/_history/{version}"
    heads = {"Location": location, "ETag": f'W/"{version}"', **(headers or {})}
    if prefer == "minimal":
        return Response(status_code=status, headers=heads)
    if prefer == "OperationOutcome" or resource is None:
        done = "created" if status == 201 else "updated"
        return FhirJSONResponse(outcome("informational", f"{rtype}/{rid} {done}: version "
                                                         f"{version} is at {location}.",
                                        severity="information"),
                                status_code=status, headers=heads)
    return FhirJSONResponse(resource, status_code=status, headers=heads | etag_headers(resource))


def not_created(rtype: str, instead: str) -> FhirJSONResponse:
    """405: this type is not created through FHIR; ``instead`` says how it comes to be."""
    return outcome_response(405, "not-supported", f"A {rtype} is not created through FHIR "
                                                  f"here: {instead}", headers={"Allow": "GET"})


def not_replaced(rtype: str, instead: str) -> FhirJSONResponse:
    """405: the record keeps every version of this entry; ``instead`` says how it changes."""
    return outcome_response(405, "not-supported", f"A {rtype} is not replaced in this record: "
                                                  f"{instead}", headers={"Allow": "GET"})


def not_deleted(rtype: str, instead: str) -> FhirJSONResponse:
    """405: nothing is deleted from a health record (it keeps what was documented and when);
    ``instead`` says what it does with an entry made in error."""
    return outcome_response(405, "not-supported", f"A {rtype} is never deleted from the "
                                                  f"record, which keeps what was documented and "
                                                  f"when: {instead}", headers={"Allow": "GET"})


def kept_routes(reads: FhirReads, instead: Mapping[str, str], otherwise: str,
                router: APIRouter | None = None) -> APIRouter:
    """``PUT`` and ``DELETE`` of a resource the record keeps: once the caller may see it (the
    same decision and 403 as a read), a 405 saying what is done instead (``instead`` by type,
    else ``otherwise``). Added to ``router`` (else a new one) after any route that does update
    a type."""
    router = APIRouter() if router is None else router

    def refusing(refuse: Callable[[str, str], FhirJSONResponse]) -> Callable:
        async def route(rtype: str, rid: str, request: Request, who: CurrentSubject,
                        access: AccessDep):
            rtype = reads.type(rtype)
            await reads.resource_allowed(request, access, who, rtype, rid)
            return refuse(rtype, instead.get(rtype, otherwise))
        route.ehr_decides_access = True   # type: ignore[attr-defined]  # decided and logged
        return route

    router.add_api_route("/{rtype}/{rid}", refusing(not_replaced), methods=["PUT"],
                         name="update")
    router.add_api_route("/{rtype}/{rid}", refusing(not_deleted), methods=["DELETE"],
                         name="delete")
    return router
