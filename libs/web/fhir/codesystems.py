"""Our own code systems as FHIR CodeSystem resources, generated from what defines their codes
(an enum or the table of Norwegian display names), each under ``CODE_BASE``, and the routes
that publish them: ``GET /fhir/CodeSystem/{id}`` and ``GET /fhir/CodeSystem?url=`` (or
``_id``). Terminology, not patient data: a read needs no token and is not logged. The systems
shared by every service (the access model's sectors, actions and roles) are ``SHARED``; a
service adds its own."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Query, Request

from libs.access.model import Action, Role, Sector
from libs.web.errors import FhirJSONResponse, outcome_response
from libs.web.fhir.elements import CODE_BASE, searchset
from libs.web.fhir.narrative import narrated
from libs.web.fhir.reads import fhir_base

PUBLISHED = "2026-12-03"   # the date of these definitions (change it with the codes)
PUBLISHER = "EHR for Norwegian municipalities"


@dataclass(frozen=True)
class CodeSystemDef:
    """One of our code systems: its id (the last part of its URL), title, description and
    codes (code -> display, None where the code is its own display)."""

    id: str
    title: str
    description: str
    concepts: Mapping[str, str | None]

    @property
    def url(self) -> str:
        return f"{CODE_BASE}/CodeSystem/{self.id}"


def codes_of(enum: Iterable[Enum]) -> dict[str, str | None]:
    """The values of an enum as codes without display."""
    return {str(member.value): None for member in enum}


def code_system(cs: CodeSystemDef) -> dict:
    """The CodeSystem resource (R4): complete, case-sensitive, its concepts in order."""
    concepts = [{"code": code} | ({"display": display} if display else {})
                for code, display in cs.concepts.items()]
    return {"resourceType": "CodeSystem", "id": cs.id, "url": cs.url, "version": PUBLISHED,
            "name": "".join(part.capitalize() for part in cs.id.split("-")),
            "title": cs.title, "status": "active", "experimental": False, "date": PUBLISHED,
            "publisher": PUBLISHER, "description": cs.description, "caseSensitive": True,
            "content": "complete", "count": len(concepts), "concept": concepts}


SHARED = (
    CodeSystemDef("recipient-sector", "Recipient sector",
                  "Recipients outside the health services that a consent names (NAV, school, "
                  "kindergarten, ...).", codes_of(Sector)),
    CodeSystemDef("access-action", "Access action",
                  "What an access to a patient's record did, as the access log records it.",
                  codes_of(Action)),
    CodeSystemDef("role", "Professional role",
                  "The roles of health personnel the services distinguish.", codes_of(Role)),
)


def code_system_routes(systems: Sequence[CodeSystemDef],
                       router: APIRouter | None = None) -> APIRouter:
    """``CodeSystem`` read and search over ``systems``, added to ``router`` (else a new one),
    before any ``/{type}`` route of the same router (see ``libs/web/routing.py``: added, not
    included, they cost a request on that router less to match)."""
    by_id = {cs.id: code_system(cs) for cs in systems}
    if len(by_id) != len(systems):
        raise ValueError("two code systems with one id")
    router = APIRouter() if router is None else router

    @router.get("/CodeSystem")
    async def search_code_systems(
            request: Request,
            url: Annotated[str | None, Query(max_length=300, description="canonical URL")] = None,
            id_: Annotated[str | None, Query(alias="_id", max_length=100)] = None):
        """Our code systems, all of them or the one with that ``url`` (or ``_id``)."""
        found = [r for r in by_id.values()
                 if (url is None or r["url"] == url.split("|")[0]) and id_ in (None, r["id"])]
        return FhirJSONResponse(searchset(found, fhir_base(request), total=len(found)))

    @router.get("/CodeSystem/{cs_id}")
    async def read_code_system(cs_id: str):
        """One of our code systems by id."""
        if cs_id not in by_id:
            return outcome_response(404, "not-found", f"No code system {cs_id[:60]!r} here; "
                                                      "GET CodeSystem lists them.")
        return FhirJSONResponse(narrated(by_id[cs_id]))

    return router


def code_system_capability() -> dict:
    """The ``rest.resource`` entry of the CodeSystem routes."""
    return {"type": "CodeSystem", "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": "url", "type": "uri"}, {"name": "_id", "type": "token"}]}
