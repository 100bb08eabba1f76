"""The one write path of every service: guard → actor → If-Match → decide → append →
consistency token → response. A route is only its decision::

    NotesWrite = Annotated[Write, Depends(write("notes", store=journal_store, actor=clinician))]

    @router.post("/patients/{patient_id}/notes/{note_id}/sign")
    async def sign_note(note_id: UUID, w: NotesWrite):
        return await w.apply(lambda record: clinical.sign(record, note_id, w.actor, w.now),
                             body={"note_id": str(note_id)}, status=200)

**The If-Match rule, the same in every service** (README, "Writes"):

- A write may send ``If-Match`` with the version it was made against (the ``ETag`` of a read:
  ``W/"7"``, ``"7"`` or ``7``). A stale one is a 412 naming the current version; nothing is
  written. A malformed one is a 422.
- A route declares ``if_match="required"`` where the client changes a shared plan that others
  decide against (the medication list): there a missing ``If-Match`` (or ``*``, which names no
  version) is a 428. Elsewhere it may be left out: the write records a new fact, and one that
  loses a race with another writer is decided again on the new state (never a silent overwrite:
  the decision runs against what is there).
- Every answer to a write carries the new version as ``ETag`` and the consistency token (header
  ``X-Consistency-Token`` and body ``consistency_token``) for reading your own write.
- A write may send ``Idempotency-Key``: it is recorded with the events in one transaction, and
  a repeat gets the first answer and appends nothing (``libs/web/idempotency.py``).

**Who may write** is decided before anything is decided or appended:
``authorize=GUARD`` (the default) runs the policy for ``action`` on ``category`` and logs the
access; ``authorize=declared(...)`` is for writes whose access is itself declared by the writer
(declaring a care relation, breaking the glass, registering a person): the declaration is logged
as the access, in ``apply``, before the append; ``authorize=IN_ROUTE`` is for a write whose
resource only the request names (the entries to open, the extract asked for): the route calls
``await w.require(resource, ...)``, which decides and logs, before ``apply``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar
from uuid import UUID

from fastapi import Depends, Request, Response

from libs.access.model import Action, Decision, Resource
from libs.events.ports import EventContext
from libs.events.store import AppendResult
from libs.events.streams import Decide, StreamStore
from libs.kernel.errors import Invalid, PreconditionFailed, PreconditionRequired
from libs.web.by_hand import optional_string, path_uuid, uuid_path_parameter
from libs.web.consistency import written
from libs.web.guard import PURPOSE, Access, Grant, Subject, actor_of, current_subject, get_access
from libs.web.idempotency import KEY_HEADER, KEY_HELP, Idempotency, apply_once, requested

S = TypeVar("S")
A = TypeVar("A")
IfMatchRule = Literal["optional", "required"]
Body = Mapping[str, Any] | Callable[[AppendResult], Mapping[str, Any]] | None

IF_MATCH_HELP = ('The version the change was made against: the ETag of a read, e.g. W/"7". '
                 "A stale version is a 412; where a change requires it, a missing one is 428.")
# read by hand (``libs.web.by_hand``), documented as FastAPI did when they were declared
WRITE_HEADERS = (optional_string("If-Match", "header", IF_MATCH_HELP),
                 optional_string(PURPOSE, "header"),
                 optional_string(KEY_HEADER, "header", KEY_HELP))


@dataclass(frozen=True)
class Declared:
    """An access the writer declares rather than one the policy derives from facts."""

    decision: Decision
    category: str
    action: Action = Action.write


def declared(decision: Decision, category: str, action: Action = Action.write) -> Declared:
    return Declared(decision, category, action)


GUARD = None   # ``authorize`` default: the policy decides (``guarded``)
IN_ROUTE = "in-route"   # the route decides, with a resource only the request names




def etag(version: int) -> str:
    return f'W/"{version}"'


def expected_version(if_match: str | None, rule: IfMatchRule, what: str) -> int | None:
    """``W/"7"``, ``"7"`` or ``7`` -> 7; missing or ``*``: None, or 428 where required;
    anything else 422."""
    raw = (if_match or "").strip()
    if raw in ("", "*"):
        if rule == "required":
            raise PreconditionRequired(
                f"A change of {what} must name the version it was made against: send If-Match "
                'with the ETag of your last read, e.g. If-Match: W/"7".')
        return None
    raw = raw.removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise Invalid('If-Match must be the version from a read\'s ETag, e.g. W/"7".')
    return int(raw)


def created(field: str) -> Callable[[AppendResult], dict[str, Any]]:
    """A body naming what the write created, read from its first event."""
    return lambda result: {field: str(result.envelopes[0].data[field])}


@dataclass
class Write(Generic[S, A]):
    """One write, authorised: apply a decision to the patient's stream and answer it."""

    patient_id: UUID | None
    subject: Subject
    actor: A               # the domain's actor (from the token), for the decision
    now: datetime
    grant: Grant | None    # None for a declared access
    access: Access
    store: StreamStore[S]
    response: Response
    expected: int | None
    what: str
    declared: Declared | None = None
    purpose: str | None = None          # on the events
    purpose_of_use: str | None = None   # the request's X-Purpose-Of-Use, for ``require``
    idempotency: Idempotency | None = None   # the request's Idempotency-Key

    async def require(self, resource: Resource, *, action: Action | None = None,
                      purpose: str | None = None, resources: Sequence[str] = (),
                      read_with: str | None = None) -> Grant:
        """Decide and log the access (``IN_ROUTE`` writes); a denial is ``AccessDenied``.
        ``read_with``: read in the facts' statement (``Access.require``), the grant's
        ``read``."""
        self.grant = await self.access.require(
            self.subject, action or (self.declared.action if self.declared else Action.write),
            resource, purpose=purpose or self.purpose_of_use, resources=resources,
            read_with=read_with)
        return self.grant

    async def apply(self, decide: Decide, *, status: int = 201, body: Body = None,
                    unchanged: Mapping[str, Any] | None = None,
                    purpose: str | None = None, access_purpose: str | None = None,
                    access_resources: Sequence[str] = (),
                    patient_id: UUID | None = None) -> dict[str, Any]:
        """Decide on the current state and append; ``body`` (or ``body(result)``) is the answer,
        ``unchanged`` the answer (200) when the decision needed no event. ``purpose`` goes on
        the events; a declared access is logged with ``access_purpose`` (default the same) and
        ``access_resources`` (what it touched, e.g. ``message/<id>``)."""
        pid = self._patient(patient_id)
        if self.grant is None and self.declared is None:
            raise RuntimeError("an IN_ROUTE write must call require() before apply()")
        await self._log_declared(pid, access_purpose or purpose, access_resources)
        if self.idempotency is not None:
            ctx = EventContext(patient_id=pid, actor=actor_of(self.subject),
                               purpose=purpose or self.purpose)
            return await apply_once(
                self.idempotency, self.store, pid, decide, ctx, self.expected, self.response,
                lambda result: self.answer(result, status=status, body=body,
                                           unchanged=unchanged), self._stale)
        try:
            result = await self.store.execute(pid, decide, actor_of(self.subject),
                                              purpose=purpose or self.purpose,
                                              expected_version=self.expected)
        except PreconditionFailed as exc:
            raise self._stale(exc.current) from None
        return self.answer(result, status=status, body=body, unchanged=unchanged)

    async def register(self, patient_id: UUID, decide: Decide, *,
                       body: Body = None) -> dict[str, Any]:
        """A registration: the stream's unique key (a national id) is claimed with the event
        (``StreamStore.register``), so one number never becomes two patients."""
        await self._log_declared(patient_id, None)
        result = await self.store.register(patient_id, decide, actor_of(self.subject))
        return self.answer(result, status=201, body=body)

    def answer(self, result: AppendResult | None, *, status: int = 201, body: Body = None,
               unchanged: Mapping[str, Any] | None = None) -> dict[str, Any]:
        if result is None:   # nothing changed (a repeated request)
            self.response.status_code = 200
            return dict(unchanged if unchanged is not None
                        else body if isinstance(body, Mapping) else {})
        self.response.headers["ETag"] = etag(result.version)
        data = body(result) if callable(body) else (body or {})
        return written(self.response, result, dict(data), status)

    def _patient(self, patient_id: UUID | None) -> UUID:
        pid = patient_id or self.patient_id
        if pid is None:
            raise TypeError("a write without a patient in its path names one in apply()")
        return pid

    async def _log_declared(self, patient_id: UUID, purpose: str | None,
                            resources: Sequence[str] = ()) -> None:
        d = self.declared
        if d is not None:
            await self.access.record(self.subject, d.action,
                                     Resource(patient_id=patient_id, category=d.category),
                                     d.decision, purpose=purpose or self.purpose,
                                     resources=resources)

    def _stale(self, current: int) -> PreconditionFailed:
        return PreconditionFailed(current, (
            f"{self.what[0].upper()}{self.what[1:]} has changed: it is at version {current}. "
            f"Read it again and redo your change against version {current} "
            f'(If-Match: W/"{current}").'))


def _path_patient(request: Request) -> UUID | None:
    """The path's patient id, if it has one (the route's own parameter answers a malformed
    one with 422)."""
    try:
        return UUID(str(request.path_params["patient_id"]))
    except (KeyError, ValueError):
        return None


async def _keyed(request: Request, subject: Subject, raw: str | None) -> Idempotency | None:
    """The request's ``Idempotency-Key``, scoped by the caller (the actor on the events)."""
    if raw is None:
        return None
    who = actor_of(subject)
    return await requested(request, f"{who.kind}:{who.id}", raw)


def write(category: str, *, store: Callable[[Request], StreamStore],
          actor: Callable[[Subject], Any] = lambda subject: subject,
          action: Action = Action.write, if_match: IfMatchRule = "optional",
          what: str = "the record", authorize: Declared | str | None = GUARD,
          purpose: str | None = None, read_with: str | None = None) -> Callable[..., Any]:
    """The dependency of a write route. ``store`` gets the service's stream store from the
    request; ``actor`` turns the token's subject into the domain's actor (raising ``Forbidden``
    for a subject that may not do this); ``what`` names the stream in messages; ``read_with``
    (``GUARD``) what the decision needs of the service's read models besides the state,
    read with the access facts (``w.grant.read``: ``Access.require``)."""
    if authorize is GUARD:
        async def dependency(request: Request, response: Response,
                             subject: Annotated[Subject, Depends(current_subject)]) -> Write:
            patient_id, headers = path_uuid(request, "patient_id"), request.headers
            access = get_access(request)
            grant = await access.require(
                subject, action, Resource(patient_id=patient_id, category=category),
                purpose=headers.get(PURPOSE), resources=(category,), read_with=read_with)
            return Write(patient_id, subject, actor(subject), access.now(), grant, access,
                         store(request), response, expected_version(headers.get("If-Match"),
                                                                    if_match, what), what,
                         purpose=purpose,
                         idempotency=await _keyed(request, subject, headers.get(KEY_HEADER)))
        dependency.ehr_access_guard = True   # a test proves every patient route is guarded
        dependency.openapi_parameters = (uuid_path_parameter("patient_id"), *WRITE_HEADERS)
    else:
        async def dependency(request: Request, response: Response,
                             subject: Annotated[Subject, Depends(current_subject)]) -> Write:
            access, headers = get_access(request), request.headers
            return Write(_path_patient(request), subject, actor(subject),
                         access.now(), None, access, store(request), response,
                         expected_version(headers.get("If-Match"), if_match, what), what,
                         declared=None if authorize == IN_ROUTE else authorize,
                         purpose=purpose, purpose_of_use=headers.get(PURPOSE),
                         idempotency=await _keyed(request, subject, headers.get(KEY_HEADER)))
        dependency.openapi_parameters = WRITE_HEADERS
        if authorize == IN_ROUTE:
            dependency.ehr_access_in_route = True   # the route calls ``w.require``
        else:
            dependency.ehr_access_declared = True
    dependency.__name__ = f"write_{category}"
    return dependency
