"""Withholding an entry from the patient (pasient- og brukerrettighetsloven § 5-1), and lifting
it. A documenting write like any other, guarded on the entry's own section (the access is
decided and logged before anything is decided) and signed by the clinician of the token."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends

from libs.access.model import Resource
from libs.events.registry import EventPayload
from libs.web.write import IN_ROUTE, Write, write
from libs.web.routing import PathRouter
from services.journal.domain import withheld as wh
from services.journal.domain.patients import Patient
from services.journal.http.deps import WHAT, body_of, clinician, journal_store

router = PathRouter()
WithheldWrite = Annotated[Write, Depends(write("record", store=journal_store, what=WHAT,
                                               actor=clinician, authorize=IN_ROUTE))]
Lift = body_of(wh.LiftWithholding, "entry_id")


def _entry(patient_id: UUID, section: str) -> Resource:
    return Resource(patient_id=patient_id, category=section)


@router.post("/patients/{patient_id}/withheld-from-patient", status_code=201,
             tags=["withheld from the patient"])
async def withhold(patient_id: UUID, body: wh.WithholdFromPatient,
                   w: WithheldWrite) -> dict[str, Any]:
    """Withhold a note, an observation, a condition or critical information from the patient
    (§ 5-1: a documented reason is required). Health personnel still see it; the patient's own
    reads, and their proxies', leave it out."""
    await w.require(_entry(patient_id, body.section),
                    resources=(f"{body.section}/{body.entry_id}",))
    observation = (await w.store.observation(patient_id, body.entry_id)
                   if body.section == "observations" else None)
    return await w.apply(lambda p: wh.withhold(p, body, w.actor, w.now, observation),
                         body={"entry_id": str(body.entry_id), "section": body.section})


@router.post("/patients/{patient_id}/withheld-from-patient/{entry_id}/lift",
             tags=["withheld from the patient"])
async def lift(patient_id: UUID, entry_id: UUID, body: Lift,  # type: ignore[valid-type]
               w: WithheldWrite) -> dict[str, Any]:
    """Lift the decision (with a reason): the patient sees the entry again."""
    state, _ = await w.store.current(patient_id)
    section = wh.section_of(state, entry_id) or "record"
    await w.require(_entry(patient_id, section), resources=(f"{section}/{entry_id}",))
    command = wh.LiftWithholding(entry_id=entry_id, **body.model_dump())

    def decide(p: Patient) -> list[EventPayload]:
        return wh.lift(p, command, w.actor, w.now)
    return await w.apply(decide, body={"entry_id": str(entry_id)}, status=200)
