"""FHIR R4 reads over a service's resource versions (``libs/events/fhir_versions.py``), the
same in every service: read, ``vread``, ``_history``, search by patient, ``ETag`` and
``Last-Modified``, and the CapabilityStatement that lists them.

A service describes its resource types (``FhirType``: information category, where the search
date is, which elements carry its codes) and its ``Refused``; ``FhirReads`` does the rest:

- Every read is decided and logged as an access to the resource's patient, in the type's
  information category: ``search_allowed`` for a search, ``resource_allowed`` for one resource.
  An unknown id is decided like a patient the caller may not see (403, the same text), so ids
  cannot be probed. What the decision withholds (a locked entry or section) is not returned.
- Search needs the patient (need-to-know is per patient); ``date``, ``code`` and ``status``
  narrow it, ``_count`` and ``_offset`` page it (newest first, with a ``next`` link), and
  ``as_of`` (an extension) reads the resources as they stood at an instant.

Routes call ``search_allowed`` / ``resource_allowed`` themselves, so a reader (and the
guarded-route test, which looks for ``_allowed(``) sees the decision in the route.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Query, Request

from libs.web.fhir.elements import searchset
from libs.web.guard import Access, AccessDep, CurrentSubject, Grant, Subject
from libs.access.model import Action, Decision, Resource
from libs.access.policy import DENY_GENERIC
from libs.events.envelope import new_event_id
from libs.kernel.errors import Forbidden, NotFound
from libs.web.fhir.versions import VersionReader
from libs.web.errors import FhirJSONResponse
from libs.web.fhir.search import SearchParameterError, date_filters
from libs.web.params import as_of_query

Count = Annotated[int, Query(alias="_count", ge=1, le=500)]
Offset = Annotated[int, Query(alias="_offset", ge=0, le=100_000)]
AsOf = as_of_query("the resource as it stood at this instant")

READ_INTERACTIONS = ("read", "vread", "search-type", "history-instance")
CODED = ("code", "type", "category", "class")


@dataclass(frozen=True)
class FhirType:
    """A resource type a service serves: its information category (what an access to it is
    decided and logged as), the elements its search ``date`` is read from (the first present),
    and the coded elements its search ``code`` matches."""

    category: str
    dates: tuple[str, ...] = ()
    codes: tuple[str, ...] = CODED


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


def as_of_utc(as_of: datetime | None) -> datetime | None:
    """``as_of`` in UTC; an instant UTC cannot hold (around year 1 or 9999) is a 422, not a
    server error."""
    try:
        return None if as_of is None else as_of.astimezone(UTC)
    except (OverflowError, ValueError):
        raise SearchParameterError("as_of: an instant between years 1 and 9999") from None


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
    return FhirJSONResponse(resource, status_code=status,
                            headers=etag_headers(resource) | dict(headers or {}))


# --- search filters ----------------------------------------------------------------------------

def _path(doc: dict, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, dict):
            return None
        doc = doc.get(part)
    return doc


def when(doc: dict, paths: Sequence[str]) -> datetime | None:
    """The first of ``paths`` that holds a date or dateTime (a date is its midnight, UTC)."""
    for path in paths:
        raw = _path(doc, path)
        if isinstance(raw, str):
            try:
                value = (datetime.fromisoformat(raw) if "T" in raw
                         else datetime.combine(date.fromisoformat(raw[:10]), datetime.min.time()))
            except ValueError:
                continue
            return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def codes(doc: dict, fields: Sequence[str] = CODED) -> set[str]:
    """Every ``code`` and ``system|code`` of the resource's coded ``fields``."""
    out: set[str] = set()
    for field in fields:
        value = doc.get(field)
        for concept in value if isinstance(value, list) else [value]:
            if not isinstance(concept, dict):
                continue
            codings = concept.get("coding", []) if "coding" in concept else [concept]
            for c in codings:
                if "code" in c:
                    out |= {c["code"], f"{c.get('system', '')}|{c['code']}"}
    return out


def statuses(doc: dict) -> set[str]:
    """``status``, and the codes of ``clinicalStatus`` and ``verificationStatus``."""
    out = {doc["status"]} if isinstance(doc.get("status"), str) else set()
    for field in ("clinicalStatus", "verificationStatus"):
        for c in (doc.get(field) or {}).get("coding", []):
            out.add(c.get("code"))
    return out


def filters(kind: FhirType, date_: list[str] | None, code: str | None,
            status: str | None) -> list[Callable[[dict], bool]]:
    """The checks of ``date`` (each value narrows), ``code`` and ``status`` (comma = or)."""
    checks: list[Callable[[dict], bool]] = []
    for check in date_filters(date_):
        checks.append(lambda d, c=check: (w := when(d, kind.dates)) is not None and c(w))
    if code:
        wanted = {x.strip() for x in code.split(",") if x.strip()}
        checks.append(lambda d: bool(codes(d, kind.codes) & wanted))
    if status:
        states = {x.strip() for x in status.split(",") if x.strip()}
        checks.append(lambda d: bool(statuses(d) & states))
    return checks


# --- bundles -----------------------------------------------------------------------------------

def fhir_base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def search_page(request: Request, rtype: str, matches: list[dict], count: int,
                offset: int) -> dict:
    """A searchset page of ``matches`` (already sorted), with ``self`` and ``next`` links."""
    page = matches[offset:offset + count]
    base = fhir_base(request)
    next_url = None
    if offset + count < len(matches):
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "_offset"]
        next_url = f"{base}/{rtype}?{urlencode([*query, ('_offset', offset + count)])}"
    bundle = searchset(page, base, total=len(matches), next_url=next_url)
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
    category, what a decision withholds. Refusals are the kernel's error kinds."""

    def __init__(self, name: str, types: Mapping[str, FhirType], *,
                 versions: Callable[[Any], VersionReader] = lambda app: app.state.reader.fhir,
                 withheld: Callable[[Decision, str], Collection[str]] = withheld_in):
        self.name, self.types = name, dict(types)
        self._versions, self._withheld = versions, withheld

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
        if patient_id is None or {rid, self.category(rtype)} & set(self.withheld(grant, rtype)):
            raise self.denied()
        return grant

    async def _require(self, access: Access, who: Subject, patient_id: UUID, rtype: str,
                       resources: tuple[str, ...]) -> Grant:
        return await access.require(who, Action.read, Resource(
            patient_id=patient_id, category=self.category(rtype)), resources=resources)

    # --- the reads themselves, once decided ----------------------------------------------------

    async def search(self, request: Request, grant: Grant, patient_id: UUID, rtype: str, *,
                     date_: list[str] | None, code: str | None, status: str | None,
                     count: int, offset: int, as_of: datetime | None) -> FhirJSONResponse:
        """One page of the patient's resources of a type that match, newest first."""
        found = await self.versions(request).search(patient_id, rtype, as_of_utc(as_of))
        hidden = set(self.withheld(grant, rtype))
        if self.category(rtype) in hidden:     # the whole section is withheld
            found = []
        kind = self.types[rtype]
        checks = filters(kind, date_, code, status)
        matches = [d for d in found if d["id"] not in hidden and all(c(d) for c in checks)]
        matches.sort(key=lambda d: (when(d, kind.dates) or datetime.min.replace(tzinfo=UTC),
                                    d["id"]), reverse=True)
        return FhirJSONResponse(search_page(request, rtype, matches, count, offset))

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

    def instance_routes(self, history_doc: str) -> APIRouter:
        """read, ``_history`` and vread of one resource, each guarded for the resource's
        patient: the same three routes in every service (include them after the search)."""
        router = APIRouter()
        reads = self

        @router.get("/{rtype}/{rid}")
        async def read(rtype: str, rid: str, request: Request, who: CurrentSubject,
                       access: AccessDep, as_of: AsOf = None):
            rtype = reads.type(rtype)
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
