"""Enforcing the policy at the HTTP edge (FastAPI), the same way in every service.

- ``CurrentSubject``: the caller from the bearer token (HelseID / ID-porten / Maskinporten shaped);
  a citizen's ``pid`` is looked up as a patient id here and then forgotten.
- ``guarded(action, category)``: a dependency for routes with a ``{patient_id}`` path parameter:
  decide, record ``AccessLogged`` (durably, before any data leaves), then permit or 403.
- ``Access.require(...)``: the same for routes that find the patient elsewhere (FHIR search).

A denial is a 403 whose text is the decision's message, which never says whether the patient
exists. Token problems are 401 (with ``WWW-Authenticate``) or 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import Depends, FastAPI, Request

from libs.audit.log import AccessLogger, entry_for
from libs.audit.facts_store import NAME as FACTS
from libs.audit.facts_store import FactsReader, facts_from
from libs.access.model import (
    Action, Basis, Citizen, Decision, Device, Facts, Obligation, Practitioner, Resource,
    SectorOfficial,
)
from libs.access.policy import decide
from libs.access.tokens import CitizenLogin, TokenError, TokenValidator, parse_authorization
from libs.events.envelope import Actor
from libs.kernel.errors import Forbidden
from libs.events.consistency import ConsistencyToken, wait_until_applied
from libs.web.by_hand import optional_string, path_uuid, uuid_path_parameter
from libs.web.consistency import DEFAULT_WAIT_S, token_in
from libs.web.errors import outcome_response
from libs.web.query import QueryModel

Subject = Practitioner | Citizen | SectorOfficial | Device
T = TypeVar("T")
ACTING_FOR = "X-Acting-For"
PURPOSE = "X-Purpose-Of-Use"


class AccessDenied(Exception):
    def __init__(self, decision: Decision):
        self.decision = decision
        super().__init__(decision.reason)


@dataclass(frozen=True)
class Grant:
    """A permitted access: the decision (obligations, what to hide) and the facts it read."""

    subject: Subject
    decision: Decision
    facts: Facts
    read: str | None = None   # what ``require(read_with=...)`` read with the facts


class Access:
    """What a service needs to enforce access: token validation, the local facts, the log."""

    def __init__(self, service: str, validator: TokenValidator, facts: FactsReader,
                 logger: AccessLogger, clock: Callable[[], datetime] | None = None,
                 wait_s: float = DEFAULT_WAIT_S, read_models: Sequence[str] = ()):
        """``read_models``: the service's own projections a client's write may be waiting in
        (a consistency token names one event; the service waits until the access facts or one
        of these has applied it, whichever reads that event's topic)."""
        self.service, self.validator, self.reader, self.logger = service, validator, facts, logger
        self.read_models = (FACTS, *read_models)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.wait_s = wait_s

    def now(self) -> datetime:
        return self.clock()

    async def caught_up(self, token: ConsistencyToken | None,
                        probe: Callable[[], Awaitable[T | None]] | None = None,
                        fresh: bool = False) -> T | None:
        """Read your writes: wait (bounded) until the local facts include the client's write,
        e.g. a consent just withdrawn or a care relation just declared, or until the service's
        own read model has it (``probe``: see ``wait_until_applied``; its answer is returned).
        ``fresh``: the route has just made the write itself (``wait_until_applied``)."""
        if token is not None:
            return await wait_until_applied(self.reader.engine, self.read_models, token,
                                            self.wait_s, probe, fresh)
        return None

    async def subject(self, authorization: str | None, acting_for: str | None,
                      token: ConsistencyToken | None = None) -> Subject:
        """The caller. The token is checked first (no waiting for anyone unauthenticated);
        then the client's write is waited for, since a citizen's identity may be that write."""
        who = self.validator.validate(parse_authorization(authorization))
        await self.caught_up(token)
        if isinstance(who, CitizenLogin):
            patient = await self.reader.patient_for(who.pid)
            try:
                principal = UUID(acting_for) if acting_for else None
            except ValueError:
                raise TokenError(403, f"{ACTING_FOR} must be a patient id (UUID)") from None
            return Citizen(person_id=who.sub, patient_id=patient, acting_for=principal,
                           acr=who.acr)
        if acting_for:
            raise TokenError(403, f"only citizens act for someone else ({ACTING_FOR})")
        return who

    async def require(self, subject: Subject, action: Action, resource: Resource, *,
                      purpose: str | None = None, resources: Collection[str] = (),
                      facts: Facts | None = None, read_with: str | None = None) -> Grant:
        """Decide, log (durably), and return the grant or raise ``AccessDenied``. ``facts``:
        the patient's access facts when the caller has just read them itself (in the same
        statement as the data, ``FhirReads.current_allowed``); else they are read here, and
        with them ``read_with`` (``FactsReader.facts_with``), the grant's ``read``: nothing
        of it leaves before the decision."""
        read = None
        if facts is None and read_with is None:
            facts = await self.reader.facts(resource.patient_id)
        elif facts is None:
            facts, read = await self.reader.facts_with(resource.patient_id, read_with)
        now = self.now()
        decision = decide(subject, action, resource, facts, now)
        entry = entry_for(subject, action, resource, decision, service=self.service,
                          resources=resources, purpose=purpose, now=now)
        await self.logger.log(entry, resource.patient_id)
        if not decision.permit:
            raise AccessDenied(decision)
        return Grant(subject, decision, facts, read)


    async def record(self, subject: Subject, action: Action, resource: Resource,
                     decision: Decision, *, purpose: str | None = None,
                     resources: Collection[str] = ()) -> None:
        """Log an access decided by the route itself (declaring a care relation, breaking the
        glass, registering a person): the same entry, the same durability."""
        entry = entry_for(subject, action, resource, decision, service=self.service,
                          resources=resources, purpose=purpose, now=self.now())
        await self.logger.log(entry, resource.patient_id)


def actor_of(who) -> Actor:
    if isinstance(who, Practitioner):
        return Actor(kind="practitioner", id=who.actor_id, organisation=who.org_parent,
                     unit=who.unit, role=",".join(sorted(who.roles)) or None)
    if isinstance(who, Citizen):
        return Actor(kind="citizen", id=who.actor_id)
    if isinstance(who, SectorOfficial):
        return Actor(kind="system", id=f"{who.sector}:{who.org}")
    return Actor(kind="device", id=who.actor_id)


def practitioner(who: Subject) -> Practitioner:
    """The subject as health personnel, or ``Forbidden`` (a write's ``actor`` for routes only
    health personnel may use)."""
    if not isinstance(who, Practitioner):
        raise Forbidden("Only health personnel can do this.")
    return who


def declared(reason: str, basis: Basis, *extra: Obligation) -> Decision:
    return Decision(permit=True, reason=reason, basis=basis, message="Registrert.",
                    obligations=frozenset({Obligation.log, *extra}))


def get_access(request: Request) -> Access:
    return request.app.state.access


async def _access(request: Request) -> Access:
    """``get_access`` as a dependency: async, since FastAPI runs a plain ``def`` dependency in
    its thread pool (two thread hand-offs per request for an attribute lookup)."""
    return request.app.state.access


async def current_subject(request: Request) -> Subject:
    """The caller, from the ``Authorization`` header (and ``X-Acting-For``), once the read has
    waited for the client's write (``X-Consistency-Token`` or ``consistency_token``). The
    headers are read here, not declared as parameters: FastAPI's solving of three headers, a
    query parameter and a nested dependency cost about 65 µs of every guarded request
    (bench/RESULTS.md). ``libs.web.subject_doc`` puts them in the OpenAPI document."""
    known = request.scope.get(_SUBJECT)
    if known is not None:   # a guard that reads it itself, and a route that declares it too
        return known
    headers = request.headers
    who = await get_access(request).subject(headers.get("authorization"),
                                            headers.get(ACTING_FOR), token_in(request))
    request.scope[_SUBJECT] = who
    return who


_SUBJECT = "ehr.subject"   # the request's scope keeps the caller once known
CurrentSubject = Annotated[Subject, Depends(current_subject)]
AccessDep = Annotated[Access, Depends(_access)]


async def _decided(request: Request, subject: Subject, action: Action, category: str,
                   patient_id: UUID, purpose: str | None, facts: Facts | None = None) -> Grant:
    """The one decision both guards make (``CurrentSubject`` has waited for the client's
    write): decided, logged durably, the grant or ``AccessDenied``."""
    return await get_access(request).require(
        subject, action, Resource(patient_id=patient_id, category=category),
        purpose=purpose, resources=(category,), facts=facts)


# what the guards read by hand (``libs.web.by_hand``), as FastAPI documented them when declared
GUARD_PARAMETERS = (uuid_path_parameter("patient_id"), optional_string(PURPOSE, "header"))


def _marked(guard: Callable, name: str) -> Callable:
    guard.__name__ = name
    guard.ehr_access_guard = True  # lets a test prove every patient route is guarded
    guard.ehr_reads_subject = True   # calls current_subject itself: one dependency fewer
    guard.openapi_parameters = GUARD_PARAMETERS
    return guard


def guarded(action: Action, category: str = "record") -> Callable:
    """A dependency for ``/patients/{patient_id}/...`` routes: the decided, logged grant. The
    patient id and ``X-Purpose-Of-Use`` are read from the request (``libs.web.by_hand``): a
    malformed id is a 422 before anything is decided."""

    async def guard(request: Request) -> Grant:
        subject = await current_subject(request)
        return await _decided(request, subject, action, category,
                              path_uuid(request, "patient_id"), request.headers.get(PURPOSE))

    return _marked(guard, f"guard_{action}_{category}")


Load = Callable[[Request, UUID], Awaitable[tuple[str | None, Any]]]


@dataclass(frozen=True)
class GuardedRead:
    """What ``guarded_with`` gives its route once permitted: the grant, the data its statement
    read, the patient of the path and the ``as_of`` of the query (None: now)."""

    grant: Grant
    data: Any
    patient_id: UUID
    as_of: datetime | None


def guarded_with(action: Action, category: str, load: Load, as_of: QueryModel) -> Callable:
    """``guarded`` for a read that fetches the patient's access facts in the same statement as
    its data (one round trip fewer, as ``FhirReads.current_allowed``): ``load(request,
    patient_id)`` returns (the facts as ``doc::text``, the data). The same decision and the
    same durable log entry come first; the route gets a ``GuardedRead`` only once permitted,
    and a refusal reads the same whatever the data held.

    The route's ``as_of`` is read here too (``libs.web.params.as_of_by_hand``), so the route
    needs no dependency but this one and ``Request`` (its store and reader are in
    ``request.app.state``): FastAPI's solving of a declared path id, query parameter and three
    one-line dependencies cost ~48 µs of a ~430 µs list read (bench/RESULTS.md). A bad
    ``as_of`` is its 422 before anything is decided or logged."""

    async def guard(request: Request) -> GuardedRead:
        subject = await current_subject(request)
        patient_id = path_uuid(request, "patient_id")
        when = (await as_of(request)).as_of   # type: ignore[attr-defined]
        raw, data = await load(request, patient_id)
        grant = await _decided(request, subject, action, category, patient_id,
                               request.headers.get(PURPOSE), facts_from(raw, patient_id))
        return GuardedRead(grant, data, patient_id, when)

    marked = _marked(guard, f"guard_{action}_{category}_with_data")
    marked.openapi_parameters = (*GUARD_PARAMETERS, *as_of.openapi_parameters)
    return marked


def install_access_handlers(app: FastAPI) -> None:
    @app.exception_handler(TokenError)
    async def _token(request: Request, exc: TokenError):
        return outcome_response(exc.status, "login" if exc.status == 401 else "forbidden",
                                exc.message, headers=exc.headers)

    @app.exception_handler(AccessDenied)
    async def _denied(request: Request, exc: AccessDenied):
        return outcome_response(403, "forbidden", exc.decision.message)
