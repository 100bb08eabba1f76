"""Recipients outside health care: consented, purpose-bound extracts (never the full record
to NAV)."""

from __future__ import annotations

from uuid import UUID


from libs.access.model import Action, Resource
from libs.events.envelope import new_event_id
from libs.web.routing import PathRouter
from services.consent.domain import commands as c
from services.consent.domain import decisions as d
from services.consent.http.deps import DisclosureWrite

router = PathRouter()


@router.post("/patients/{patient_id}/disclosures", status_code=201, tags=["disclosures"])
async def disclose(patient_id: UUID, body: c.ExtractRequest, w: DisclosureWrite):
    """A consented, purpose-bound extract for school, kindergarten, PPT or NAV (never the full
    record to NAV). Returns the scope the extract may contain."""
    period = d.extract_period(body)
    grant = await w.require(Resource(
        patient_id=patient_id, category=body.category, full_record=body.full_record,
        period=period), action=Action.disclose, purpose="disclosure",
        resources=(body.category,))
    events = d.record_disclosure(new_event_id(), body, w.actor, grant.decision.decision_ref,
                                 w.now)
    return await w.apply(lambda f: events, body={
        "disclosure_id": str(events[0].disclosure_id), "categories": [body.category],
        "withheld": sorted(grant.decision.hidden)})
