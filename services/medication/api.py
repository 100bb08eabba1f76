"""The medication service's REST API: the patient's medication list (PLL), its changes with
decision support, what was given, reconciliation and review, and the drug catalogue.

- Every route with a patient in its path is guarded (category ``medication``): decided, logged
  durably, then permitted or 403 without saying whether the patient exists.
- Only prescribers (health personnel whose token carries the prescriber or physician role and an
  HPR number) change the list; other health personnel and medicine dispensers record
  administration; everyone with a need-to-know reads.
- A change of the list must name the list version it was made against in ``If-Match`` (the
  ``ETag`` of a read): without it 428, a stale one 412 with the current version, so two people
  changing the same list at once never overwrite each other silently. Recording a dose given
  may send it too, but need not: a dose given is a fact, not a change of the plan.
- A refused transition (resume a discontinued medication, give a paused one) is a 409 with the
  reason; going ahead against an "avoid" warning without ``override_reason`` is a 422 that lists
  the warnings. Warnings of an order that went ahead come back in its response and are
  recorded (``medication.WarningsRecorded``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import AwareDatetime, create_model

from libs.access.guard import AccessDep, CurrentSubject, Grant, actor_of, guarded
from libs.access.model import Action, Device, Practitioner, Role
from libs.access.policy import local_day
from libs.events.registry import EventPayload
from libs.events.store import AppendResult
from libs.events.streams import PreconditionFailed
from libs.web.consistency import written
from services.medication import views
from services.medication.domain import Actor, Dispenser, Nurse, Prescriber, Refused
from services.medication.domain import administration as adm
from services.medication.domain import medication_list as ml
from services.medication.domain import reconciliation as rc
from services.medication.domain.checks import catalogue_drug
from services.medication.domain.decision_support import check
from services.medication.domain.dosing import to_dose
from services.medication.domain.state import MedicationList
from services.medication.handlers import MedicationStore
from services.medication.projections import ListReader

router = APIRouter()
READ = Depends(guarded(Action.read, "medication"))
WRITE = Depends(guarded(Action.write, "medication"))
LIST = "/patients/{patient_id}/medication-list"
ENTRY = LIST + "/entries/{entry_id}"


async def _store(request: Request) -> MedicationStore:
    return request.app.state.medication


async def _reader(request: Request) -> ListReader:
    return request.app.state.reader


Store = Annotated[MedicationStore, Depends(_store)]
Reader = Annotated[ListReader, Depends(_reader)]
AsOf = Annotated[AwareDatetime | None, Query(description=(
    "The list as it stood at this instant (ISO 8601 with offset), e.g. when a dose was given. "
    "Changes recorded later are not shown."))]
IfMatch = Annotated[str | None, Header(alias="If-Match", description=(
    'The list version the change was made against: the ETag of a read, e.g. W/"7"'))]


def _body(command: type) -> type:
    """The command without ``entry_id`` (it is in the path)."""
    fields = {k: (v.annotation, v) for k, v in command.model_fields.items() if k != "entry_id"}
    return create_model(f"{command.__name__}Body", __base__=ml.Command, **fields)


AdministrationBody = _body(adm.RecordAdministration)
DispensingBody = _body(adm.RecordDispensing)


# --- shared pieces ---------------------------------------------------------------------------

def actor(who) -> Actor:
    """The domain's actor from the token: a prescriber (prescriber or physician role and an HPR
    number), other health personnel, or a medicine dispenser."""
    if isinstance(who, Device):
        return Dispenser(client_id=who.client_id)
    if not isinstance(who, Practitioner):
        raise Refused(403, "Only health personnel and medicine dispensers change the "
                           "medication list or record doses.")
    if not who.hpr:
        raise Refused(403, "Only authorised health personnel (with an HPR number) can do "
                           "this.")
    if Role.prescriber in who.roles or Role.physician in who.roles:
        return Prescriber(hpr=who.hpr, unit=who.unit)
    return Nurse(hpr=who.hpr, unit=who.unit)


def etag(version: int) -> str:
    return f'W/"{version}"'


def expected(if_match: str | None, *, required: bool) -> int | None:
    """``W/"7"``, ``"7"`` or ``7`` -> 7. Missing (or ``*``, which names no version) on a change
    of the list: 428; malformed: 422."""
    if if_match is None or if_match.strip() in ("", "*"):
        if required:
            raise Refused(428, 'A change of the medication list must name the list version it '
                               'was made against: send If-Match with the ETag of your last '
                               'read, e.g. If-Match: W/"7".')
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise Refused(422, 'If-Match must be the version from a read\'s ETag, e.g. W/"7".')
    return int(raw)


def catalogue_of(request: Request):
    live = request.app.state.catalogue
    if live.view is None:
        raise Refused(503, "No drug catalogue is loaded, so orders cannot be checked: load one "
                           "with `ehr catalogue load`.")
    return live.view


async def append_against(store: MedicationStore, patient_id: UUID, grant: Grant,
                         decide: Callable[[MedicationList], Sequence[EventPayload]],
                         if_match: str | None, *, required: bool = True) -> AppendResult | None:
    """Decide and append against the version ``If-Match`` names (428 without one where it is
    required, 412 when it is stale); None when nothing needed recording."""
    try:
        return await store.execute(patient_id, decide, actor_of(grant.subject),
                                   expected_version=expected(if_match, required=required))
    except PreconditionFailed as exc:
        raise Refused(412, f"The medication list has changed: it is at version {exc.current}. "
                           "Read it again, and check your change against what changed, before "
                           f"you send it with If-Match: W/\"{exc.current}\".") from None


async def change(response: Response, store: MedicationStore, patient_id: UUID, grant: Grant,
                 decide: Callable[[MedicationList], Sequence[EventPayload]],
                 if_match: str | None, *, required: bool = True, status: int = 200,
                 created: str | None = None) -> dict[str, Any]:
    """``append_against``; the answer has the new version (also as ``ETag``), the warnings
    shown and recorded, and what was created."""
    result = await append_against(store, patient_id, grant, decide, if_match,
                                  required=required)
    if result is None:   # a repeated report (a dispenser's event id already recorded)
        return {"recorded": False}
    response.headers["ETag"] = etag(result.version)
    body = {"version": result.version, "warnings": _warnings(result)}
    if created:
        body[created] = str(result.envelopes[0].data[created])
    return written(response, result, body, status)


def _warnings(result: AppendResult) -> list[dict[str, Any]]:
    return [w for env in result.envelopes if env.type == "medication.WarningsRecorded"
            for w in env.data["warnings"]]


def hidden(grant: Grant) -> frozenset[str]:
    return views.hidden_of(grant.decision.hidden, grant.decision.categories)


async def list_at(store: MedicationStore, reader: ListReader, patient_id: UUID,
                  as_of: datetime | None, grant: Grant) -> tuple[MedicationList, int, int]:
    """The list now (the read model) or as it stood at ``as_of`` (folded from the store), as
    the reader may see it: (list, version, entries withheld)."""
    if as_of is not None:
        loaded = await store.history(patient_id, as_of)
        lst, version = loaded.state, loaded.version
    else:
        found = await reader.list(patient_id)
        lst, version = found or (MedicationList.empty(patient_id), 0)
    seen, withheld = views.visible(lst, hidden(grant))
    return seen, version, withheld


# --- reads -----------------------------------------------------------------------------------

@router.get(LIST, tags=["reads"], response_model=None)
async def current(patient_id: UUID, store: Store, reader: Reader, access: AccessDep,
                  as_of: AsOf = None, grant: Grant = READ) -> Response:
    """The current list: what the patient should take now (active, paused and not yet
    started), each entry with its dose, status, prescription and when it was last given; or,
    with ``as_of``, the list as it stood then. ``ETag`` is the list version to change it
    against."""
    headers = {"Cache-Control": "no-store"}
    if as_of is not None or hidden(grant):
        lst, version, withheld = await list_at(store, reader, patient_id, as_of, grant)
        body = views.current_view(lst, as_of or access.now()) | views.withheld_note(withheld)
        if as_of is not None:
            body["as_of"] = as_of.isoformat()
        return Response(views.to_json(body), media_type="application/json",
                        headers=headers | {"ETag": etag(version)})
    version, ready, lst = await reader.current(patient_id, access.now())
    if ready is None:
        ready = views.to_json(views.current_view(lst or MedicationList.empty(patient_id),
                                                 access.now()))
    return Response(ready, media_type="application/json",
                    headers=headers | {"ETag": etag(version)})


@router.get(LIST + "/chart", tags=["reads"])
async def chart(patient_id: UUID, response: Response, store: Store, reader: Reader,
                access: AccessDep,
                day: Annotated[date | None, Query(description="Oslo day; default today")] = None,
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
        raise Refused(404, "No such medication on this patient's list.")
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


# --- changes of the list (prescribers) -------------------------------------------------------

@router.post(LIST + "/prescriptions", status_code=201, tags=["changes"])
async def prescribe(patient_id: UUID, body: ml.Prescribe, response: Response, request: Request,
                    store: Store, reader: Reader, access: AccessDep, if_match: IfMatch = None,
                    grant: Grant = WRITE):
    """Order a catalogue product: a new entry with its first prescription, checked by decision
    support; an "avoid" warning needs ``override_reason``."""
    by, catalogue, cave = actor(grant.subject), catalogue_of(request), await reader.cave(
        patient_id)
    now = access.now()
    fresh = request.app.state.fresh_within
    return await change(response, store, patient_id, grant, lambda lst: ml.prescribe(
        lst, body, by, now, catalogue=catalogue, cave=cave, fresh_within=fresh), if_match,
        status=201, created="entry_id")


@router.post(LIST + "/other-sources", status_code=201, tags=["changes"])
async def record_other(patient_id: UUID, body: ml.RecordFromOtherSource, response: Response,
                       request: Request, store: Store, reader: Reader, access: AccessDep,
                       if_match: IfMatch = None, grant: Grant = WRITE):
    """Record a medicine the patient uses that was not prescribed here: from a hospital
    discharge summary, over the counter, a supplement, another prescriber. Checked, and the
    warnings recorded, but no override reason is needed: it records a fact."""
    by, catalogue, cave = actor(grant.subject), catalogue_of(request), await reader.cave(
        patient_id)
    now = access.now()
    return await change(response, store, patient_id, grant, lambda lst: ml.record_from_other_source(
        lst, body, by, now, catalogue=catalogue, cave=cave), if_match, status=201,
        created="entry_id")


def _checked_change(name: str, command: type, decide: Callable, doc: str) -> None:
    """A change of one entry that decision support checks (renew, new dose, resume)."""

    async def route(patient_id: UUID, entry_id: UUID, body: Any,
                    response: Response, request: Request, store: Store, reader: Reader,
                    access: AccessDep, if_match: IfMatch = None, grant: Grant = WRITE):
        by, catalogue, cave = actor(grant.subject), catalogue_of(request), await reader.cave(
            patient_id)
        c, now = command(entry_id=entry_id, **body.model_dump()), access.now()
        fresh = request.app.state.fresh_within
        return await change(response, store, patient_id, grant, lambda lst: decide(
            lst, c, by, now, catalogue=catalogue, cave=cave, fresh_within=fresh), if_match)

    route.__doc__, route.__name__ = doc, name
    route.__annotations__["body"] = _body(command)   # the command without its path parameter
    router.post(ENTRY + "/" + name, tags=["changes"])(route)


def _plain_change(name: str, command: type, decide: Callable, doc: str) -> None:
    async def route(patient_id: UUID, entry_id: UUID, body: Any,
                    response: Response, request: Request, store: Store, access: AccessDep,
                    if_match: IfMatch = None, grant: Grant = WRITE):
        by, c, now = actor(grant.subject), command(entry_id=entry_id, **body.model_dump()), \
            access.now()
        fresh = request.app.state.fresh_within
        return await change(response, store, patient_id, grant,
                            lambda lst: decide(lst, c, by, now, fresh_within=fresh), if_match)

    route.__doc__, route.__name__ = doc, name
    route.__annotations__["body"] = _body(command)
    router.post(ENTRY + "/" + name, tags=["changes"])(route)


_checked_change("renew", ml.Renew, ml.renew,
                "Renew the prescription: a new one replaces the newest, which is recalled.")
_checked_change("dose", ml.ChangeDose, ml.change_dose,
                "A new dose from now (from resumption when paused); a new prescription "
                "replaces the previous one.")
_checked_change("resume", ml.Resume, ml.resume, "Resume a paused medication.")
_plain_change("pause", ml.Pause, ml.pause, "Pause (a reason is required).")
_plain_change("discontinue", ml.Discontinue, ml.discontinue,
              "Discontinue (seponere) with a reason; every prescription still active is "
              "recalled. A discontinued medication is not resumed: prescribe it again.")


@router.post(LIST + "/fetches", status_code=201, tags=["changes"])
async def record_fetch(patient_id: UUID, body: ml.RecordFetch, response: Response,
                       store: Store, access: AccessDep, grant: Grant = WRITE):
    """Report a fetch of the patient's prescriptions from the prescription intermediary (RF)
    and the summary care record (KJ), e.g. by the EHR's SFM integration for the user. Where
    required (``EHR_MEDICATION_RF_FETCH_REQUIRED``; production by default), a change of the
    list needs one less than ``EHR_MEDICATION_RF_FETCH_MAX_AGE_H`` (4) hours old."""
    by, now = actor(grant.subject), access.now()
    return await change(response, store, patient_id, grant,
                        lambda lst: ml.record_fetch(lst, body, by, now), None,
                        required=False, status=201)


# --- what happened (health personnel, dispensers) --------------------------------------------

@router.post(ENTRY + "/administrations", status_code=201, tags=["administration"])
async def administer(patient_id: UUID, entry_id: UUID, body: AdministrationBody,
                     response: Response, store: Store, access: AccessDep,
                     if_match: IfMatch = None, grant: Grant = WRITE):
    """A dose given, missed or refused (by a nurse, a prescriber or a medicine dispenser).
    A planned dose names its planned time (``scheduled_for``); a dispenser's repeated report
    (same ``device_event_id``) is answered 200 and recorded once."""
    by, now = actor(grant.subject), access.now()
    c = adm.RecordAdministration(entry_id=entry_id, **body.model_dump())
    out = await change(response, store, patient_id, grant,
                       lambda lst: adm.record_administration(lst, c, by, now), if_match,
                       required=False, status=201, created="administration_id")
    if out == {"recorded": False}:
        response.status_code = 200
    return out


@router.post(ENTRY + "/dispensings", status_code=201, tags=["administration"])
async def dispense(patient_id: UUID, entry_id: UUID, body: DispensingBody,
                   response: Response, store: Store, access: AccessDep,
                   if_match: IfMatch = None, grant: Grant = WRITE):
    """A dispensing by a pharmacy on a prescription of the entry (default its newest), as
    reported to the service (e.g. a multidose delivery checked in by home care)."""
    by, now = actor(grant.subject), access.now()
    c = adm.RecordDispensing(entry_id=entry_id, **body.model_dump())
    return await change(response, store, patient_id, grant,
                        lambda lst: adm.record_dispensing(lst, c, by, now), if_match,
                        required=False, status=201)


@router.post(LIST + "/reconciliations", status_code=201, tags=["reconciliation"])
async def reconcile(patient_id: UUID, body: rc.Reconcile, response: Response, request: Request,
                    store: Store, access: AccessDep, if_match: IfMatch = None,
                    grant: Grant = WRITE):
    """Legemiddelsamstemming: what the patient actually uses, each line with its source, as
    the next version of "medicines in use". It does not change the list."""
    by, catalogue, now = actor(grant.subject), catalogue_of(request), access.now()
    return await change(response, store, patient_id, grant, lambda lst: rc.reconcile(
        lst, body, by, now, catalogue=catalogue), if_match, required=False, status=201,
        created="reconciliation_id")


@router.post(LIST + "/reviews", status_code=201, tags=["reconciliation"])
async def review(patient_id: UUID, body: rc.ReviewMedication, response: Response, store: Store,
                 access: AccessDep, if_match: IfMatch = None, grant: Grant = WRITE):
    """Legemiddelgjennomgang of the newest reconciled list, by a prescriber."""
    by, now = actor(grant.subject), access.now()
    return await change(response, store, patient_id, grant,
                        lambda lst: rc.review(lst, body, by, now), if_match, required=False,
                        status=201, created="review_id")


# --- the drug catalogue ----------------------------------------------------------------------

@router.get("/catalogue", tags=["catalogue"])
async def catalogue_info(request: Request, who: CurrentSubject):
    """Which extract is loaded (its date and load), and how many products are active."""
    _professional(who)
    live = request.app.state.catalogue
    cat = live.catalogue
    if cat is None:
        return {"load_id": None, "extract_date": None, "products": 0, "sample": False}
    return {"load_id": live.load_id, "extract_date": cat.extract_date.isoformat(),
            "source": cat.header.source, "sample": cat.header.sample,
            "notice": cat.header.notice, "products": len(cat.active_products())}


@router.get("/catalogue/products", tags=["catalogue"])
async def products(request: Request, who: CurrentSubject,
                   q: Annotated[str | None, Query(max_length=100, description=(
                       "part of the name or substance"))] = None,
                   atc: Annotated[str | None, Query(max_length=7)] = None,
                   limit: Annotated[int, Query(ge=1, le=200)] = 50):
    """Search active products by name, substance or ATC code (prefix)."""
    _professional(who)
    view = catalogue_of(request)
    cat = request.app.state.catalogue.catalogue
    term = (q or "").strip().casefold()
    found = [p for p in cat.active_products()
             if (not atc or (p.atc or "").upper().startswith(atc.strip().upper()))
             and (not term or term in view.product(p.id).name.casefold()
                  or any(term in s.casefold() for s in view.product(p.id).substances))]
    return {"products": [_product(view.product(p.id)) for p in found[:limit]],
            "total": len(found)}


@router.get("/catalogue/products/{product_id}", tags=["catalogue"])
async def product(product_id: str, request: Request, who: CurrentSubject):
    _professional(who)
    found = catalogue_of(request).product(product_id)
    if found is None:
        raise Refused(404, "No such product in the drug catalogue.")
    return _product(found)


def _professional(who) -> None:
    if not isinstance(who, Practitioner | Device):
        raise Refused(403, "The drug catalogue is for health personnel.")


def _product(p) -> dict[str, Any]:
    return {"product_id": p.product_id, "name": p.name, "atc": p.atc,
            "substances": list(p.substances), "strength": p.strength,
            "strength_unit": p.strength_unit, "form": p.form,
            "max_daily_dose": p.max_daily_dose, "max_daily_dose_unit": p.max_daily_dose_unit,
            "expired": p.expired}
