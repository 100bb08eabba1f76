"""The writes of the medication list, each one decision through the write dependency
(``libs/web/write.py``).

- Changes of the list (prescribers; ``ListChange``, ``If-Match`` required): order, record from
  another source, renew, new dose, pause, resume, discontinue.
- What happened (``Record``, ``If-Match`` optional): a fetch from the prescription intermediary,
  a dose given, a dispensing, a reconciliation, a review.

A refused transition (resume a discontinued medication, give a paused one) is a 409 with the
reason; going ahead against an "avoid" warning without ``override_reason`` is a 422 that lists
the warnings. Warnings of an order that went ahead come back in its response and are recorded
(``medication.WarningsRecorded``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from fastapi import Request

from services.medication.domain import administration as adm
from services.medication.domain import medication_list as ml
from services.medication.domain import reconciliation as rc
from services.medication.http.deps import (
    ENTRY, LIST, NOTHING_RECORDED, CheckedChange, ListChange, Record, answer, catalogue_of,
    fresh_within, without_entry_id,
)
from services.medication.projections.reader import cave_from
from libs.web.routing import PathRouter

router = PathRouter()
AdministrationBody = without_entry_id(adm.RecordAdministration)
DispensingBody = without_entry_id(adm.RecordDispensing)


# --- changes of the list (prescribers) -------------------------------------------------------

@router.post(LIST + "/prescriptions", status_code=201, tags=["changes"])
async def prescribe(patient_id: UUID, body: ml.Prescribe, request: Request, w: CheckedChange):
    """Order a catalogue product: a new entry with its first prescription, checked by decision
    support; an "avoid" warning needs ``override_reason``."""
    catalogue, cave = catalogue_of(request), cave_from(w.grant.read)
    fresh = fresh_within(request)
    return await w.apply(lambda lst: ml.prescribe(
        lst, body, w.actor, w.now, catalogue=catalogue, cave=cave, fresh_within=fresh),
        status=201, body=answer("entry_id"))


@router.post(LIST + "/other-sources", status_code=201, tags=["changes"])
async def record_other(patient_id: UUID, body: ml.RecordFromOtherSource, request: Request,
                       w: CheckedChange):
    """Record a medicine the patient uses that was not prescribed here: from a hospital
    discharge summary, over the counter, a supplement, another prescriber. Checked, and the
    warnings recorded, but no override reason is needed: it records a fact."""
    catalogue, cave = catalogue_of(request), cave_from(w.grant.read)
    return await w.apply(lambda lst: ml.record_from_other_source(
        lst, body, w.actor, w.now, catalogue=catalogue, cave=cave),
        status=201, body=answer("entry_id"))


def _checked_change(name: str, command: type, decide: Callable, doc: str) -> None:
    """A change of one entry that decision support checks (renew, new dose, resume)."""

    async def route(patient_id: UUID, entry_id: UUID, body: Any, request: Request,
                    w: CheckedChange):
        catalogue, cave = catalogue_of(request), cave_from(w.grant.read)
        c, fresh = command(entry_id=entry_id, **body.model_dump()), fresh_within(request)
        return await w.apply(lambda lst: decide(
            lst, c, w.actor, w.now, catalogue=catalogue, cave=cave, fresh_within=fresh),
            status=200, body=answer())

    route.__doc__, route.__name__ = doc, name
    route.__annotations__["body"] = without_entry_id(command)
    router.post(ENTRY + "/" + name, tags=["changes"])(route)


def _plain_change(name: str, command: type, decide: Callable, doc: str) -> None:
    async def route(patient_id: UUID, entry_id: UUID, body: Any, request: Request,
                    w: ListChange):
        c, fresh = command(entry_id=entry_id, **body.model_dump()), fresh_within(request)
        return await w.apply(lambda lst: decide(lst, c, w.actor, w.now, fresh_within=fresh),
                             status=200, body=answer())

    route.__doc__, route.__name__ = doc, name
    route.__annotations__["body"] = without_entry_id(command)
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


# --- what happened (health personnel, dispensers) --------------------------------------------

@router.post(LIST + "/fetches", status_code=201, tags=["changes"])
async def record_fetch(patient_id: UUID, body: ml.RecordFetch, w: Record):
    """Report a fetch of the patient's prescriptions from the prescription intermediary (RF)
    and the summary care record (KJ), e.g. by the EHR's SFM integration for the user. Where
    required (``EHR_MEDICATION_RF_FETCH_REQUIRED``; production by default), a change of the
    list needs one less than ``EHR_MEDICATION_RF_FETCH_MAX_AGE_H`` (4) hours old."""
    return await w.apply(lambda lst: ml.record_fetch(lst, body, w.actor, w.now),
                         status=201, body=answer())


@router.post(ENTRY + "/administrations", status_code=201, tags=["administration"])
async def administer(patient_id: UUID, entry_id: UUID, body: AdministrationBody, w: Record):
    """A dose given, missed or refused (by a nurse, a prescriber or a medicine dispenser).
    A planned dose names its planned time (``scheduled_for``); a dispenser's repeated report
    (same ``device_event_id``) is answered 200 and recorded once."""
    c = adm.RecordAdministration(entry_id=entry_id, **body.model_dump())
    return await w.apply(lambda lst: adm.record_administration(lst, c, w.actor, w.now),
                         status=201, body=answer("administration_id"),
                         unchanged=NOTHING_RECORDED)


@router.post(ENTRY + "/dispensings", status_code=201, tags=["administration"])
async def dispense(patient_id: UUID, entry_id: UUID, body: DispensingBody, w: Record):
    """A dispensing by a pharmacy on a prescription of the entry (default its newest), as
    reported to the service (e.g. a multidose delivery checked in by home care)."""
    c = adm.RecordDispensing(entry_id=entry_id, **body.model_dump())
    return await w.apply(lambda lst: adm.record_dispensing(lst, c, w.actor, w.now),
                         status=201, body=answer(), unchanged=NOTHING_RECORDED)


@router.post(LIST + "/reconciliations", status_code=201, tags=["reconciliation"])
async def reconcile(patient_id: UUID, body: rc.Reconcile, request: Request, w: Record):
    """Legemiddelsamstemming: what the patient actually uses, each line with its source, as
    the next version of "medicines in use". It does not change the list."""
    catalogue = catalogue_of(request)
    return await w.apply(lambda lst: rc.reconcile(lst, body, w.actor, w.now,
                                                  catalogue=catalogue),
                         status=201, body=answer("reconciliation_id"))


@router.post(LIST + "/reviews", status_code=201, tags=["reconciliation"])
async def review(patient_id: UUID, body: rc.ReviewMedication, w: Record):
    """Legemiddelgjennomgang of the newest reconciled list, by a prescriber."""
    return await w.apply(lambda lst: rc.review(lst, body, w.actor, w.now),
                         status=201, body=answer("review_id"))
