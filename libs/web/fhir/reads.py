"""FHIR R4 reads over a service's resource versions (``libs/web/fhir/versions.py``), the
same in every service: read, ``vread``, ``_history``, search by patient, ``ETag`` and
``Last-Modified``, and the CapabilityStatement that lists them.

A service describes its resource types (``FhirType``: information category, where the search
date is, which elements carry its codes) and its ``Refused``; ``FhirReads`` does the rest:

- Every read is decided and logged as an access to the resource's patient, in the type's
  information category: ``search_allowed`` for a search, ``resource_allowed`` for one resource.
  An unknown id is decided like a patient the caller may not see (403, the same text), so ids
  cannot be probed. What the decision withholds (a locked entry or section) is not returned.
- Search needs the patient (need-to-know is per patient); ``date``, ``code`` and ``status``
  narrow it, and ``as_of`` (an extension) reads the resources as they stood at an instant. It
  runs in SQL over search columns stored with each version (``versions.py``), newest search date
  first: ``_count`` per page, the ``next`` link goes on with an opaque ``_cursor`` (the last
  resource's date and id), so page 100 costs what page 1 does; ``_offset`` still works up to
  10,000. ``total`` is counted up to 1,000 matches and left out above that (FHIR allows it).

Routes call ``search_allowed`` / ``resource_allowed`` themselves, so a reader (and the
guarded-route test, which looks for ``_allowed(``) sees the decision in the route. The hot
paths (issue 17) have ``current_allowed`` (read by id) and ``page_allowed`` (search): the
data and the patient's access facts come in one statement, and nothing leaves before the
access is decided and its log entry committed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request

from libs.web.fhir.elements import searchset
from libs.web.fhir.narrative import narrated
from libs.web.guard import (
    Access, AccessDenied, AccessDep, CurrentSubject, Grant, Subject, get_access,
)
from libs.access.model import Action, Decision, Facts, Resource
from libs.audit.facts_store import facts_from
from libs.access.policy import DENY_GENERIC
from libs.events.envelope import new_event_id
from libs.kernel.errors import Forbidden, NotFound
from libs.web.errors import FhirJSONResponse
from libs.web.limits import BodyRefused
from libs.web.fhir.search import (
    Cursor, SearchParameterError, SearchQuery, as_of_utc, parsed_query,
)
from libs.web.fhir.searchable import FhirType
from libs.web.fhir.stored import Stored
from libs.web.fhir.versions import VersionReader
from libs.web.fhir.call import FhirCall, fhir_call
from libs.web.fhir.search_params import ReadParams
from libs.web.query import QueryModel

CursorParam = Annotated[str | None, Query(alias="_cursor", max_length=400,
                                          description="where the previous page ended (from "
                                                      "its next link)")]

LOOK_UP_PURPOSE = "TREAT"
"""The purpose logged for a look-up by national id when the client states none
(``X-Purpose-Of-Use``): a professional finding the person in front of them (v3-ActReason)."""

READ_INTERACTIONS = ("read", "vread", "search-type", "history-instance")
READ = fhir_call(QueryModel(ReadParams), "rtype", "rid")   # the hot read by id: one dependency


def patient_reference(raw: str) -> UUID:
    """``Patient/<id>`` or ``<id>``; anything else is a 422."""
    try:
        return UUID(raw.removeprefix("Patient/"))
    except ValueError:
        raise SearchParameterError("patient: a reference Patient/<id> (or the id)") from None


def required_patient(raw: str | None, why: str) -> UUID:
    """The search's patient; without one, a 422 saying ``why``."""
    if not raw:
        raise SearchParameterError(why)
    return patient_reference(raw)


def http_date(instant: str) -> str:
    """A FHIR instant as an HTTP date (``Last-Modified``)."""
    return datetime.fromisoformat(instant).astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def etag_headers(resource: dict) -> dict[str, str]:
    """``ETag: W/"<versionId>"`` and ``Last-Modified`` from the resource's ``meta``."""
    meta = resource.get("meta", {})
    headers = {}
    if "versionId" in meta:
        headers["ETag"] = f'W/"{meta["versionId"]}"'
    if "lastUpdated" in meta:
        headers["Last-Modified"] = http_date(meta["lastUpdated"])
    return headers


def etagged(resource: dict, status: int = 200,
            headers: Mapping[str, str] | None = None) -> FhirJSONResponse:
    return FhirJSONResponse(narrated(resource), status_code=status,
                            headers=etag_headers(resource) | dict(headers or {}))


FORM = "application/x-www-form-urlencoded"


async def form_parameters(request: Request) -> dict[str, str]:
    """The search parameters of a POST ``_search`` (a form body, bounded like every body):
    415 for another content type, 422 for a parameter given twice or a body that is not
    UTF-8 form data."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM:
        raise BodyRefused(415, "not-supported", f"A POST search takes its parameters as {FORM}.")
    try:
        pairs = parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True,
                          strict_parsing=False, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise SearchParameterError("the form body is not UTF-8 form data with at most 20 "
                                   "parameters") from None
    form = dict(pairs)
    if len(form) != len(pairs):
        raise SearchParameterError("a POST search takes each parameter once")
    return form


# --- bundles -----------------------------------------------------------------------------------

def fhir_base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def search_page(request: Request, rtype: str, page: Sequence[Stored], after: Cursor | None,
                total: int | None) -> dict:
    """A searchset page with ``self`` and, when there are more, a ``next`` link that goes on
    after the page's last resource (``_cursor``), whether this page was found by ``_cursor``
    or ``_offset``; ``total`` only when it was counted (at most ``TOTAL_UP_TO``)."""
    base = fhir_base(request)
    next_url = None
    if after is not None:
        query = [(k, v) for k, v in request.query_params.multi_items()
                 if k not in ("_offset", "_cursor")]
        next_url = f"{base}/{rtype}?{urlencode([*query, ('_cursor', after.encode())])}"
    bundle = searchset(page, base, total=total, next_url=next_url)
    bundle["link"] = [{"relation": "self", "url": str(request.url)}, *bundle.get("link", [])]
    return bundle


def history_bundle(base: str, rtype: str, rid: str, versions: list[dict]) -> dict:
    """Every version, newest first; version 1 was created, each later one an update."""
    return {
        "resourceType": "Bundle", "type": "history", "total": len(versions),
        "entry": [{"fullUrl": f"{base}/{rtype}/{rid}", "resource": v,
                   "request": {"method": "POST" if v["meta"]["versionId"] == "1" else "PUT",
                               "url": f"{rtype}/{rid}"},
                   "response": {"status": "201" if v["meta"]["versionId"] == "1" else "200",
                                "etag": f'W/"{v["meta"]["versionId"]}"',
                                "lastModified": v["meta"]["lastUpdated"]}}
                  for v in versions]}


# --- CapabilityStatement -----------------------------------------------------------------------

def resource_capability(rtype: str, search_params: Sequence[dict],
                        interactions: Sequence[str | dict] = READ_INTERACTIONS,
                        **more: Any) -> dict:
    """One ``rest.resource``: versioned, its history readable; ``more`` adds elements (e.g.
    ``documentation``)."""
    return {"type": rtype, "versioning": "versioned", "readHistory": True,
            "interaction": [i if isinstance(i, dict) else {"code": i} for i in interactions],
            "searchParam": list(search_params)} | more


def server_capabilities(resources: Sequence[dict], *, date_: str,
                         interactions: Sequence[str] = (), **more: Any) -> dict:
    """A server's CapabilityStatement (FHIR 4.0.1, JSON); ``interactions`` are system-wide
    (e.g. ``transaction``); ``more`` adds top-level elements (e.g. ``implementation``) or, as
    ``rest``, elements of the server's ``rest`` entry."""
    rest_more = more.pop("rest", {})
    rest: dict[str, Any] = {"mode": "server", "resource": list(resources)}
    if interactions:
        rest["interaction"] = [{"code": i} for i in interactions]
    return {"resourceType": "CapabilityStatement", "status": "active", "date": date_,
            "kind": "instance", "fhirVersion": "4.0.1", "format": ["application/fhir+json"],
            **more, "rest": [rest | rest_more]}


# --- decided reads -----------------------------------------------------------------------------

def withheld_in(decision: Decision, category: str) -> frozenset[str]:
    """What a decision withholds: its hidden entries and sections, and the category itself when
    the decision names the categories the caller may see and this is not one of them."""
    outside = decision.categories is not None and category not in decision.categories
    return frozenset(decision.hidden) | ({category} if outside else frozenset())


class FhirReads:
    """A service's FHIR reads: ``name`` for messages ("The journal"), its ``types``, where its
    versions are (``versions(app)``) and, when the service knows more sections than one
    category, what a decision withholds. ``kept`` names what else the service keeps from the
    reader of a patient's record (the journal: entries withheld from the patient, § 5-1, when
    the reader is the patient or their proxy). Refusals are the kernel's error kinds."""

    def __init__(self, name: str, types: Mapping[str, FhirType], *,
                 versions: Callable[[Any], VersionReader] = lambda app: app.state.reader.fhir,
                 withheld: Callable[[Decision, str], Collection[str]] = withheld_in,
                 kept: Callable[[Request, Grant, UUID], Awaitable[Collection[str]]]
                 | None = None):
        self.name, self.types = name, dict(types)
        self._versions, self._withheld, self._kept = versions, withheld, kept

    def type(self, rtype: str) -> str:
        """The resource type, or 404 naming the types served."""
        if rtype not in self.types:
            raise NotFound(f"{self.name} has no FHIR resource type '{rtype[:40]}'; it "
                                    f"serves {', '.join(self.types)}.")
        return rtype

    def category(self, rtype: str) -> str:
        return self.types[rtype].category

    def denied(self) -> Exception:
        return Forbidden(DENY_GENERIC[1])

    def versions(self, request: Request) -> VersionReader:
        return self._versions(request.app)

    def withheld(self, grant: Grant, rtype: str) -> Collection[str]:
        return self._withheld(grant.decision, self.category(rtype))

    async def hidden(self, request: Request, grant: Grant, patient_id: UUID,
                     rtype: str) -> set[str]:
        """Every id and section this reader may not see of the patient's ``rtype``."""
        kept = await self._kept(request, grant, patient_id) if self._kept else ()
        return set(self.withheld(grant, rtype)) | set(kept)

    async def search_allowed(self, access: Access, who: Subject, patient_id: UUID,
                             rtype: str) -> Grant:
        """Decide and log a search of one patient's resources of a type."""
        return await self._require(access, who, patient_id, rtype, (f"{rtype}?patient",))

    async def resource_allowed(self, request: Request, access: Access, who: Subject,
                               rtype: str, rid: str) -> Grant:
        """Decide and log the read of one resource (read, vread, ``_history``); an unknown id
        is decided like a stranger, and a withheld one is denied in the same words."""
        patient_id = await self.versions(request).patient_of(rtype, rid)
        probe = patient_id or new_event_id()
        grant = await self._require(access, who, probe, rtype, (f"{rtype}/{rid}"[:200],))
        if patient_id is None or {rid, self.category(rtype)} & await self.hidden(
                request, grant, patient_id, rtype):
            raise self.denied()
        return grant

    async def current_allowed(self, request: Request, access: Access, who: Subject,
                              rtype: str, rid: str) -> dict:
        """``resource_allowed`` for a read of the current version, in one statement fewer:
        the resource, its patient and the patient's access facts are read together, then
        decided and logged as ever; the resource once permitted (nothing leaves before)."""
        found = await self.versions(request).current_with_facts(rtype, rid)
        probe = found[0] if found else new_event_id()
        grant = await self._require(access, who, probe, rtype, (f"{rtype}/{rid}"[:200],),
                                    facts_from(found[3] if found else None, probe))
        if found is None or {rid, self.category(rtype)} & await self.hidden(
                request, grant, probe, rtype):
            raise self.denied()
        return found[2]

    async def person_allowed(self, access: Access, who: Subject, patient_id: UUID | None,
                             purpose: str | None) -> Grant | None:
        """Decide and log the look-up of a person by national id (``Patient?identifier``): the
        grant, or ``None`` when the caller may not see the patient or no patient has the
        number; an unknown number is decided (and logged) like a stranger, so both read the
        same. The log names the search, never the number."""
        probe = patient_id or new_event_id()
        try:
            grant = await access.require(
                who, Action.read, Resource(patient_id=probe, category=self.category("Patient")),
                purpose=purpose or LOOK_UP_PURPOSE, resources=("Patient?identifier",))
        except AccessDenied:
            return None
        return grant if patient_id is not None else None

    async def _require(self, access: Access, who: Subject, patient_id: UUID, rtype: str,
                       resources: tuple[str, ...], facts: Facts | None = None) -> Grant:
        return await access.require(who, Action.read, Resource(
            patient_id=patient_id, category=self.category(rtype)), resources=resources,
            facts=facts)

    # --- the reads themselves, once decided ----------------------------------------------------

    async def search(self, request: Request, grant: Grant, patient_id: UUID, rtype: str, *,
                     date_: list[str] | None, code: str | None, status: str | None,
                     count: int, offset: int, as_of: datetime | None,
                     cursor: str | None = None, category: str | None = None,
                     ) -> FhirJSONResponse:
        """One page of the patient's resources of a type that match, newest first: ``_count``
        of them after ``_cursor`` (from the previous page's ``next`` link) or after skipping
        ``_offset`` (at most ``MAX_OFFSET``; not both). ``total`` is counted up to
        ``TOTAL_UP_TO`` matches and left out above that."""
        query = parsed_query(date_, code, status, count, offset, as_of, cursor, category)
        return await self._page(request, patient_id, rtype, query,
                                await self.hidden(request, grant, patient_id, rtype))

    async def page_allowed(self, request: Request, access: Access, who: Subject,
                           patient_id: UUID, rtype: str, **params: Any) -> FhirJSONResponse:
        """``search_allowed`` and ``search`` (``params`` are its), in one statement fewer: the
        page is read with the patient's access facts, then the search is decided and logged
        as ever, and the page answered once permitted, when the decision withholds nothing
        from it (else it is read again without what is withheld). Malformed parameters are
        decided and logged first, as before, and then a 422."""
        try:
            query = parsed_query(**params)
        except SearchParameterError:
            await self.search_allowed(access, who, patient_id, rtype)
            raise
        page, after, total, facts = await self.versions(request).search_with_facts(
            patient_id, rtype, query)
        grant = await self._require(access, who, patient_id, rtype, (f"{rtype}?patient",),
                                    facts_from(facts, patient_id))
        if hidden := await self.hidden(request, grant, patient_id, rtype):
            return await self._page(request, patient_id, rtype, query, hidden)
        return FhirJSONResponse(search_page(request, rtype, page, after, total))

    async def _page(self, request: Request, patient_id: UUID, rtype: str, query: SearchQuery,
                    hidden: set[str]) -> FhirJSONResponse:
        """The page of a search that withholds ``hidden`` (ids and sections)."""
        if self.category(rtype) in hidden:     # the whole section is withheld
            page, after, total = [], None, 0
        else:
            page, after, total = await self.versions(request).search(
                patient_id, rtype, replace(query, withheld=sorted(hidden)))
        return FhirJSONResponse(search_page(request, rtype, page, after, total))

    def no_match(self, request: Request, rtype: str) -> FhirJSONResponse:
        """The page of a search that found nothing the caller may see."""
        return FhirJSONResponse(search_page(request, rtype, [], None, 0))

    async def read(self, request: Request, rtype: str, rid: str,
                   as_of: datetime | None = None) -> FhirJSONResponse:
        found = await self.versions(request).current(rtype, rid, as_of_utc(as_of))
        if found is None:
            raise NotFound("The resource did not exist at that time.")
        return etagged(found[2])

    async def vread(self, request: Request, rtype: str, rid: str, vid: str) -> FhirJSONResponse:
        for v in await self.versions(request).versions(rtype, rid):
            if v["meta"]["versionId"] == vid:
                return etagged(v)
        raise NotFound(f"{rtype}/{rid} has no version {vid[:20]}.")

    async def history(self, request: Request, rtype: str, rid: str) -> FhirJSONResponse:
        versions = await self.versions(request).versions(rtype, rid)
        return FhirJSONResponse(history_bundle(fhir_base(request), rtype, rid, versions))

    def instance_routes(self, history_doc: str, router: APIRouter | None = None) -> APIRouter:
        """read, ``_history`` and vread of one resource, each guarded for the resource's
        patient: the same three routes in every service, added to ``router`` (else a new one)
        after the search (added, not included: ``libs/web/routing.py``)."""
        router = APIRouter() if router is None else router
        reads = self

        @router.get("/{rtype}/{rid}")
        async def read(request: Request, call: Annotated[FhirCall, Depends(READ)]):
            (rtype, rid), who, access = call.path, call.who, get_access(request)
            rtype, as_of = reads.type(rtype), call.query.as_of
            if as_of is None:
                return etagged(await reads.current_allowed(request, access, who, rtype, rid))
            await reads.resource_allowed(request, access, who, rtype, rid)
            return await reads.read(request, rtype, rid, as_of)

        @router.get("/{rtype}/{rid}/_history", description=history_doc)
        async def history(rtype: str, rid: str, request: Request, who: CurrentSubject,
                          access: AccessDep):
            rtype = reads.type(rtype)
            await reads.resource_allowed(request, access, who, rtype, rid)
            return await reads.history(request, rtype, rid)

        @router.get("/{rtype}/{rid}/_history/{vid}")
        async def vread(rtype: str, rid: str, vid: str, request: Request, who: CurrentSubject,
                        access: AccessDep):
            rtype = reads.type(rtype)
            await reads.resource_allowed(request, access, who, rtype, rid)
            return await reads.vread(request, rtype, rid, vid)

        for route in (read, history, vread):
            route.ehr_decides_access = True   # resource_allowed: decided and logged
        return router
