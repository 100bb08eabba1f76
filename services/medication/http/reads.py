"""The reads of the medication list: the current list (or as it stood at an instant), the
administration chart of a day, the history of changes, one entry, the reconciled lists, and the
warnings an order would get (``$check``, which records nothing)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Query, Request, Response

from libs.access.model import Action
from libs.kernel.errors import NotFound
from libs.kernel.time import local_day
from libs.web.guard import AccessDep, Grant, GuardedRead, guarded, guarded_with
from libs.web.params import as_of_by_hand, day_query
from libs.web.write import etag
from libs.web.routing import PathRouter
from services.medication import views
from services.medication.domain import medication_list as ml
from services.medication.domain.checks import catalogue_drug
from services.medication.domain.decision_support import check
from services.medication.domain.dosing import to_dose
from services.medication.domain.state import MedicationList
from services.medication.http.deps import (
    AS_OF_DOC, ENTRY, LIST, AsOf, Reader, Store, catalogue_of, hidden, list_at,
    medication_store,
)

DayParam = day_query("Oslo day; default today")
router = PathRouter()
READ = Depends(guarded(Action.read, "medication"))


async def _current_data(request: Request, patient_id: UUID):
    """The list read's facts and current list in one statement (``guarded_with``); a read
    ``as_of`` an instant, or one that withholds entries, reads the list again without them."""
    return await request.app.state.reader.current(patient_id, request.app.state.access.now())


CURRENT = guarded_with(Action.read, "medication", _current_data, as_of_by_hand(AS_OF_DOC))


@router.get(LIST, tags=["reads"], response_model=None)
async def current(request: Request, read: Annotated[GuardedRead, Depends(CURRENT)]) -> Response:
    """The current list: what the patient should take now (active, paused and not yet
    started), each entry with its dose, status, prescription and when it was last given; or,
    with ``as_of``, the list as it stood then. ``ETag`` is the list version to change it
    against."""
    headers = {"Cache-Control": "no-store"}
    (version, ready, lst), grant, as_of = read.data, read.grant, read.as_of
    now = request.app.state.access.now
    if as_of is not None or hidden(grant):
        lst, version, withheld = await list_at(medication_store(request),
                                               request.app.state.reader, read.patient_id,
                                               as_of, grant)
        body = views.current_view(lst, as_of or now()) | views.withheld_note(withheld)
        if as_of is not None:
            body["as_of"] = as_of.isoformat()
        return Response(views.to_json(body), media_type="application/json",
                        headers=headers | {"ETag": etag(version)})
    if ready is None:
        ready = views.to_json(views.current_view(lst or MedicationList.empty(read.patient_id),
                                                 now()))
    return Response(ready, media_type="application/json",
                    headers=headers | {"ETag": etag(version)})


@router.get(LIST + "/chart", tags=["reads"])
async def chart(patient_id: UUID, response: Response, store: Store, reader: Reader,
                access: AccessDep,
                day: DayParam = None,
                as_of: AsOf = None, grant: Grant = READ):
    """The administration chart of a day: each planned dose with what was recorded (given,
    missed, refused, or nothing yet) and doses given outside the plan (as needed, extra)."""
    lst, version, withheld = await list_at(store, reader, patient_id, as_of, grant)
    response.headers["ETag"] = etag(version)
    return views.chart_view(lst, day or local_day(access.now())) | views.withheld_note(withheld)


@router.get(LIST + "/history", tags=["reads"])
async def history(patient_id: UUID, response: Response, store: Store, reader: Reader,
                  entry_id: Annotated[UUID | None, Query()] = None, as_of: AsOf = None,
                  grant: Grant = READ):
    """Every change of the list, newest first: who, when, what and why (reasons for
    discontinuing, pausing, overriding a warning)."""
    lst, version, withheld = await list_at(store, reader, patient_id, as_of, grant)
    response.headers["ETag"] = etag(version)
    return views.history_view(lst, entry_id) | views.withheld_note(withheld)


@router.get(ENTRY, tags=["reads"])
async def entry(patient_id: UUID, entry_id: UUID, response: Response, store: Store,
                reader: Reader, access: AccessDep, as_of: AsOf = None, grant: Grant = READ):
    """One entry with its prescription chain (renewals and recalls), dose steps, dispensings,
    administrations and history; discontinued entries too."""
    lst, version, _ = await list_at(store, reader, patient_id, as_of, grant)
    found = lst.entry(entry_id)
    if found is None:
        raise NotFound("No such medication on this patient's list.")
    response.headers["ETag"] = etag(version)
    return views.entry_view(lst, found, as_of or access.now())


@router.get(LIST + "/reconciliations", tags=["reads"])
async def reconciliations(patient_id: UUID, response: Response, store: Store, reader: Reader,
                          as_of: AsOf = None, grant: Grant = READ):
    """The reconciled lists ("medicines in use", newest first, each line with its source) and
    the medication reviews of them."""
    lst, version, withheld = await list_at(store, reader, patient_id, as_of, grant)
    response.headers["ETag"] = etag(version)
    return views.reconciliations_view(lst) | views.withheld_note(withheld)


@router.post(LIST + "/$check", tags=["decision support"])
async def check_order(patient_id: UUID, body: ml.Prescribe, request: Request, store: Store,
                      reader: Reader, access: AccessDep, grant: Grant = READ):
    """The warnings an order would get now, without ordering: interactions, duplicates, CAVE
    and the maximum daily dose. Nothing is recorded."""
    catalogue = catalogue_of(request)
    drug = catalogue_drug(catalogue, body.product_id)
    lst, version = await store.current(patient_id)
    warnings = check(drug, to_dose(body.dose), lst.active_entries(access.now()),
                     catalogue=catalogue, cave=await reader.cave(patient_id))
    return {"version": version, "warnings": views.warnings_view(warnings),
            "needs_override_reason": any(w.level == "avoid" for w in warnings)}
