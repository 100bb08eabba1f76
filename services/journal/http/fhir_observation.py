"""FHIR ``update`` of an Observation (``PUT /fhir/Observation/{id}`` with ``If-Match``): the
journal's correction of a recorded value, or its mark entered-in-error, through the same write
dependency as the REST corrections (guard, access log, If-Match: 428 without, 412 when stale).
What the update may change is ``fhir/observation_update.py``. An Observation the caller may
not see is answered like an unknown id."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Header, Request

from libs.access.model import Resource
from libs.events.consistency import HEADER, ConsistencyToken
from libs.events.envelope import new_event_id
from libs.events.registry import EventPayload
from libs.kernel.errors import PreconditionFailed
from libs.web.fhir.reads import FhirReads
from libs.web.fhir.writes import prefer_return, write_answer
from libs.web.write import IN_ROUTE, Write, write
from services.journal.domain import clinical as cl
from services.journal.domain.patients import Patient
from services.journal.fhir.observation_update import observation_change, still_as_read
from services.journal.http.deps import WHAT, clinician, journal_store

# the version an update names is the Observation resource's (its ETag): checked in the route
ObservationWrite = Annotated[Write, Depends(write("observations", store=journal_store,
                                                  what=WHAT, if_match="required",
                                                  authorize=IN_ROUTE))]


def observation_update_routes(reads: FhirReads, router: APIRouter | None = None) -> APIRouter:
    """``PUT Observation/{id}``, added to ``router`` (else a new one)."""
    router = APIRouter() if router is None else router

    @router.put("/Observation/{rid}")
    async def update_observation(rid: str, request: Request, w: ObservationWrite,
                                 resource: Annotated[dict, Body(
                                     description="the whole Observation")],
                                 prefer: Annotated[str | None, Header(max_length=200)] = None):
        """FHIR ``update`` of an Observation, with ``If-Match`` naming its version (428
        without, 412 when stale): a new ``valueQuantity.value`` is a correction, status
        ``entered-in-error`` marks it so; the reason is the text of a note the update adds.
        One that changes nothing is answered with the current version."""
        versions = reads.versions(request)
        known = await versions.patient_of("Observation", rid)
        await w.require(Resource(patient_id=known or new_event_id(), category="observations"),
                        resources=(f"Observation/{rid}"[:200],))
        current = None if known is None else await versions.current("Observation", rid)
        if current is None:
            raise reads.denied()
        read, version = current[2], int(current[2]["meta"]["versionId"])
        if w.expected != version:
            raise PreconditionFailed(version, f"Observation/{rid} has changed: it is at "
                                              f"version {version}. Read it again and redo "
                                              f'your change against it (If-Match: W/"{version}").')
        change = observation_change(resource, rid, read)   # one resource: on the loop
        wanted, headers = prefer_return(prefer), {}
        if change is not None:
            w.expected = None   # checked above on the resource, and again on the folded one
            by = clinician(w.subject)

            async def decide(p: Patient) -> list[EventPayload]:
                o = await w.store.observation(known, UUID(rid))
                still_as_read(p, o, rid, read, version)
                if isinstance(change, cl.ObservationInError):
                    return cl.mark_observation_in_error(p, o, change, by, w.now)
                return cl.correct_observation(p, o, change, by, w.now)
            try:
                await w.apply(decide, patient_id=known, status=200)
            except PreconditionFailed:   # overtaken after the If-Match was checked
                raise PreconditionFailed(version + 1, f"Observation/{rid} has changed since "
                                                      f"version {version} was read. Read it "
                                                      "again and redo your change against "
                                                      "it.") from None
            token = w.response.headers.get(HEADER)
            if token is not None:
                await w.access.caught_up(ConsistencyToken.decode(token), fresh=True)
                headers = {HEADER: token}
                current = await versions.current("Observation", rid) or current
        return write_answer(request, "Observation", rid, current[2]["meta"]["versionId"],
                            current[2], wanted, status=200, headers=headers)

    return router
