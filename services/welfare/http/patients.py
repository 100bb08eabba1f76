"""A person's welfare technology for health personnel: the legal bases (consent or a pasrl
§ 4-6 a decision) per technology, the thresholds for their values, the readings in the order they happened, the tasks raised,
and the service owner's decisions on quarantined data. Every route is guarded and logged."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Depends, Query

from libs.access.model import Action
from libs.kernel.errors import Conflict
from libs.web.guard import Grant, actor_of, guarded
from libs.web.routing import PathRouter
from services.welfare.contract import Band
from services.welfare.domain import coverage as cov
from services.welfare.domain import quarantine
from services.welfare.http.deps import CATEGORY, Coverage, CoverageWrite, IntakeDep, OwnerWrite, Reader

router = PathRouter(tags=["welfare"])
PATIENT = "/patients/{patient_id}"
Read = Annotated[Grant, Depends(guarded(Action.read, CATEGORY))]


@router.post(PATIENT + "/coverage", status_code=201)
async def record_coverage(patient_id: UUID, body: cov.RecordCoverage, w: CoverageWrite):
    """Record the person's consent, or a pasrl § 4-6 a decision, for a technology: from then
    on its data are used, not quarantined."""
    return await w.apply(lambda s: cov.record(s, body, w.actor.hpr, w.actor.unit, w.now),
                         body=lambda r: {"coverage_id": str(r.envelopes[0].data["coverage_id"])})


@router.post(PATIENT + "/coverage/{coverage_id}/end", status_code=200)
async def end_coverage(patient_id: UUID, coverage_id: UUID, body: cov.EndCoverage,
                       w: CoverageWrite):
    """Consent withdrawn, or the decision ended: later data are quarantined."""
    return await w.apply(lambda s: cov.end(s, coverage_id, body, w.actor.hpr, w.now),
                         body={"coverage_id": str(coverage_id)}, status=200)


@router.post(PATIENT + "/thresholds", status_code=200)
async def set_thresholds(patient_id: UUID, body: Band, w: CoverageWrite):
    """A clinician's thresholds for one of the person's values (green / yellow / red,
    requirement 47): measurements from then on get their light against them."""
    return await w.apply(lambda s: cov.set_thresholds(s, body, w.actor.hpr, w.actor.unit,
                                                      w.now),
                         body={"code": body.code}, status=200)


@router.post(PATIENT + "/inactivity", status_code=200)
async def set_inactivity(patient_id: UUID, body: cov.InactivityLimit, w: CoverageWrite):
    """A clinician's limit for "no activity for N hours by day": a follow-up task when none of
    the person's devices reports activity for that long by day (null: off)."""
    return await w.apply(lambda s: cov.set_inactivity(s, body, w.actor.hpr, w.actor.unit,
                                                      w.now),
                         body={"hours": body.hours}, status=200)


@router.get(PATIENT + "/coverage")
async def read_coverage(patient_id: UUID, grant: Read, store: Coverage) -> dict[str, Any]:
    state, version = await store.current(patient_id)
    return {"version": version,
            "coverage": [e.model_dump(mode="json") for e in state.entries],
            "thresholds": [b.model_dump(mode="json") for b in state.bands.values()],
            "inactivity_h": state.inactivity_h}


@router.get(PATIENT + "/readings")
async def readings(patient_id: UUID, grant: Read, reader: Reader,
                   status: Literal["accepted", "quarantined", "released", "discarded"] | None
                   = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict:
    """The person's readings, newest first by when they happened (a late one in its place)."""
    return {"readings": await reader.readings(patient_id, status, limit)}


@router.get(PATIENT + "/welfare-tasks")
async def tasks(patient_id: UUID, grant: Read, reader: Reader) -> dict:
    return {"tasks": await reader.tasks(patient_id)}


async def _decide(patient_id: UUID, reading_id: UUID, w, store, decide) -> dict[str, Any]:
    entries = await store.entries(patient_id, reading_id)
    payloads = decide(entries, w.actor.hpr, w.actor.unit, w.now)
    held = quarantine.quarantined_of(entries)
    result = await store.decide(patient_id, reading_id,
                                quarantine.review_key(held.reading.technology), payloads,
                                actor_of(w.subject))
    if result is None:
        raise Conflict("This reading has already been decided on.")
    return w.answer(result, status=200, body={"reading_id": str(reading_id)})


@router.post(PATIENT + "/quarantine/{reading_id}/release", status_code=200)
async def release(patient_id: UUID, reading_id: UUID, body: quarantine.Decision,
                  w: OwnerWrite, store: IntakeDep):
    """The service owner releases quarantined data: it is used as if it had just arrived."""
    return await _decide(patient_id, reading_id, w, store,
                         lambda e, hpr, unit, now: quarantine.release(e, body, hpr, unit, now))


@router.post(PATIENT + "/quarantine/{reading_id}/discard", status_code=200)
async def discard(patient_id: UUID, reading_id: UUID, body: quarantine.Decision,
                  w: OwnerWrite, store: IntakeDep):
    """The service owner discards quarantined data: it stays recorded, and is never used."""
    return await _decide(patient_id, reading_id, w, store,
                         lambda e, hpr, unit, now: quarantine.discard(e, body, hpr, unit, now))
