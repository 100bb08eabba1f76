"""The journal's reads over REST: the overview, the timeline, the notes (each as it stands now
or ``as_of`` an instant), and a unit's worklist. Every read with a patient in its path is
guarded (``guarded``: decide, log ``AccessLogged`` durably, then permit or 403)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import Depends, Query, Request, Response

from libs.access.model import Action, Resource
from libs.kernel.errors import Forbidden, NotFound
from libs.kernel.time import local_day
from libs.web.guard import (
    AccessDenied, AccessDep, CurrentSubject, Grant, GuardedRead, guarded, guarded_with,
)
from libs.web.params import as_of_by_hand, day_query
from libs.web.write import etag
from libs.web.routing import PathRouter
from services.journal.contract import stream_of
from services.journal.domain.patients import Patient
from services.journal.domain.process_state import worklist_window
from services.journal.http import views
from services.journal.http.deps import (
    AS_OF_DOC, AsOf, Journal, Reader, hidden, journal_store, not_shown, practitioner,
    record_at, shown, shown_history, viewer_hpr,
)

DayParam = day_query("default: today")

router = PathRouter()


async def _overview_data(request: Request, patient_id: UUID):
    """The overview's facts, record and vital signs in one statement (``guarded_with``); a
    read ``as_of`` an instant folds the record from the store instead and uses only the
    facts."""
    facts, record, observations = await request.app.state.reader.overview(patient_id)
    return facts, (record, observations)


OVERVIEW = guarded_with(Action.read, "record", _overview_data, as_of_by_hand(AS_OF_DOC))


# the views are plain JSON values: written by orjson as the answer (pydantic-core's ``dump_json``
# of ``dict[str, Any]`` was 5 % of the read's CPU, ``jsonable_encoder`` before it 10–18 %;
# bench/RESULTS.md, journal); ``response_model`` is only what the API documents
@router.get("/patients/{patient_id}", tags=["reads"], response_model=dict[str, Any])
async def overview(request: Request, read: Annotated[GuardedRead, Depends(OVERVIEW)]):
    """Overview: active episodes and service decisions, CAVE, latest vital signs, open tasks,
    active care plans and the newest notes; ``as_of`` for the record as it stood then."""
    grant, (found, observations), as_of = read.grant, read.data, read.as_of
    if as_of is not None:
        store, records = journal_store(request), request.app.state.reader
        patient, version = await record_at(store, records, read.patient_id, as_of)
        observations = [*(await store.observations_at(read.patient_id, as_of)).values(),
                        *await records.device_observations_at(read.patient_id, as_of)]
    else:
        patient, version = found if found else (Patient.unknown(read.patient_id), 0)
        if not patient.registered:
            raise NotFound("No record for this patient in the journal.")
    gone = not_shown(grant, patient)
    patient, observations = shown(grant, patient), [o for o in observations
                                                    if o.observation_id not in gone]
    now = as_of or request.app.state.access.now()
    body = views.overview(patient, observations, now, hidden(grant), viewer_hpr(grant)) | {
        "version": version, "as_of": as_of.isoformat() if as_of else None}
    return Response(orjson.dumps(body), media_type="application/json",
                    headers={"ETag": etag(version)})


@router.get("/patients/{patient_id}/timeline", tags=["reads"])
async def timeline(patient_id: UUID, store: Journal, records: Reader, as_of: AsOf = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                   before: Annotated[int | None, Query(
                       ge=1, le=2**31 - 1, description="the next page: the `next` of the "
                       "page before (entries below this version)")] = None,
                   grant: Grant = Depends(guarded(Action.read, "record"))):
    """Every change to the record, newest first, with who made it; corrections next to what
    they correct. One page of at most ``limit`` entries, read backwards from the store, so a
    page costs the same however long the record's history is; ``next`` fetches the page after.
    Device measurements (welfare technology) are one entry per device for the time the page
    covers (``DeviceMeasurements``: how many values, which codes, when measured)."""
    state, version = await store.current(patient_id)
    if not state.registered:
        raise NotFound("No record for this patient in the journal.")
    page = await store.store.load_newest(stream_of(patient_id), limit + 1, before, as_of)
    if as_of is not None and before is None:
        if not page:
            raise NotFound("The record did not exist at that time.")
        version = page[0].stream_version
    more = len(page) > limit
    page = page[:limit]
    entries = views.timeline(shown_history(grant, state, reversed(page)), hidden(grant))
    if not {"timeline", "observations"} & set(hidden(grant)):
        entries = await _with_devices(store, records, patient_id, entries, page, more, before,
                                      as_of)
    return {"version": version, "entries": entries,
            "next": page[-1].stream_version if more else None}


async def _with_devices(store, records, patient_id: UUID, entries: list[dict], page: list,
                        more: bool, before: int | None, as_of: datetime | None) -> list[dict]:
    """The page's entries with the device measurements (``welfare.events``) taken into the
    record in the time the page covers: from its oldest entry (from the start on the last
    page) up to the page before's oldest (up to ``as_of`` on the first page), one entry per
    device, so pages neither repeat nor miss any and a page stays bounded."""
    until = as_of + timedelta(microseconds=1) if as_of is not None else None
    if before is not None:
        at = await store.store.load_newest(stream_of(patient_id), 1, before + 1, None)
        until = at[0].recorded_at if at else until
    after = page[-1].recorded_at if more and page else None
    devices = [{"at": d["taken"].isoformat(), "event": "DeviceMeasurements",
                "what": "Målinger fra enhet (velferdsteknologi)", "by": d["device"],
                "unit": None, "entry_id": None, "version": None,
                "data": {"device": d["device"], "values": d["n"], "codes": list(d["codes"]),
                         "first_measured": d["first"].isoformat(),
                         "last_measured": d["last"].isoformat()}}
               for d in await records.device_measurements(patient_id, after, until)]
    return sorted([*entries, *devices], key=lambda e: datetime.fromisoformat(e["at"]),
                  reverse=True)


@router.get("/patients/{patient_id}/notes", tags=["reads"])
async def list_notes(patient_id: UUID, store: Journal, records: Reader, response: Response,
                     kind: Annotated[str | None, Query(description="e.g. home_care_visit")] = None,
                     as_of: AsOf = None,
                     grant: Grant = Depends(guarded(Action.read, "notes"))):
    patient, version = await record_at(store, records, patient_id, as_of)
    response.headers["ETag"] = etag(version)
    return {"version": version,
            "notes": views.notes(shown(grant, patient), hidden(grant), kind, viewer_hpr(grant))}


@router.get("/worklist", tags=["worklist"])
async def worklist(who: CurrentSubject, records: Reader, access: AccessDep,
                   unit: Annotated[str | None, Query(description="default: your unit")] = None,
                   day: DayParam = None,
                   overdue: Annotated[bool, Query(description="also open tasks from "
                                                  "earlier days")] = True):
    """The unit's open tasks for a day (Norwegian time), by due time; today's also those due
    in the next two hours (late in the evening, a task due after midnight). Each patient shown is
    an access to that patient, decided and logged; tasks of patients the caller may not see
    are left out and counted."""
    pro = practitioner(who)
    unit = unit or pro.unit
    if unit not in (pro.unit, pro.org_parent):
        raise Forbidden("You can only see the worklist of your own unit.")
    now = access.now()
    day = day or local_day(now)
    start, end = worklist_window(day, now)
    tasks = await records.worklist(unit, start, end, overdue)
    shown, withheld, decided = [], 0, {}
    for task in tasks:
        pid = UUID(task["patient_id"])
        if pid not in decided:
            try:
                await access.require(pro, Action.read, Resource(patient_id=pid,
                                                                category="tasks"),
                                     resources=("worklist",))
                decided[pid] = True
            except AccessDenied:
                decided[pid] = False
        if decided[pid]:
            shown.append(task | {"overdue": datetime.fromisoformat(task["due_at"]) < now})
        else:
            withheld += 1
    return {"unit": unit, "day": day.isoformat(), "tasks": shown,
            "not_shown": withheld}
