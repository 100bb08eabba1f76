"""Recipients outside health care: consented, purpose-bound extracts (never the full record
to NAV)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from libs.access import events as ev
from libs.access.guard import AccessDep, CurrentSubject, actor_of
from libs.access.model import Action, Resource, SectorOfficial
from libs.events.envelope import new_event_id
from libs.web.consistency import written
from services.consent import domain as d
from services.consent.routes.common import Patients

router = APIRouter()


class ExtractRequest(BaseModel):
    category: str = Field(min_length=1, max_length=100)
    period_from: date | None = None
    period_to: date | None = None
    full_record: bool = False


@router.post("/patients/{patient_id}/disclosures", status_code=201, tags=["disclosures"])
async def disclose(patient_id: UUID, body: ExtractRequest, who: CurrentSubject,
                   response: Response, access: AccessDep, store: Patients):
    """A consented, purpose-bound extract for school, kindergarten, PPT or NAV (never the full
    record to NAV). Returns the scope the extract may contain."""
    if not isinstance(who, SectorOfficial):
        raise d.Refused(403, "Disclosures are requested by a recipient outside health care.")
    if (body.period_from and body.period_to) and body.period_to < body.period_from:
        raise d.Refused(422, "period_to must not be before period_from")
    period = (body.period_from, body.period_to) if body.period_from and body.period_to else None
    grant = await access.require(who, Action.disclose, Resource(
        patient_id=patient_id, category=body.category, full_record=body.full_record,
        period=period), purpose="disclosure", resources=(body.category,))
    now = access.now()
    event = ev.DisclosureMade(disclosure_id=new_event_id(), sector=who.sector,
                              recipient_org=who.org, consent_id=grant.decision.decision_ref,
                              categories=[body.category], period_from=body.period_from,
                              period_to=body.period_to, disclosed_at=now)
    result = await store.execute(patient_id, lambda f: [event], actor_of(who),
                                 purpose="disclosure")
    return written(response, result, {"disclosure_id": str(event.disclosure_id),
                                      "categories": [body.category],
                                      "withheld": sorted(grant.decision.hidden)})
