"""Health personnel: persons, care relations, emergency access, restricted entries, the duty
to notify child welfare, guardians and devices."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Query, Request
from pydantic import BaseModel, Field

from libs.access.model import Action, Obligation, Resource
from libs.access.policy import not_found_safe
from libs.events.envelope import new_event_id
from libs.web.guard import AccessDenied
from libs.web.write import created
from libs.web.routing import PathRouter
from services.consent.domain import commands as c
from services.consent.domain import decisions as d
from services.consent.domain import relations as r
from services.consent.http.deps import (
    CareRelationWrite, ChildWelfareWrite, DevicesWrite, EmergencyWrite, EndCareRelationWrite,
    GuardiansWrite, OpenRestrictedWrite, PersonWrite, RELATION_ACCESS,
)

router = PathRouter()


class RegisterPersonBody(c.RegisterPerson):
    patient_id: UUID | None = Field(default=None, description="internal id; new if omitted")


@router.post("/persons", status_code=201, tags=["persons"])
async def register_person(body: RegisterPersonBody, request: Request, w: PersonWrite):
    """Make a person known to the access model (national id validated, its type stored)."""
    s = request.app.state.settings
    patient_id = body.patient_id or new_event_id()
    command = c.RegisterPerson(**body.model_dump(exclude={"patient_id"}))
    return await w.register(patient_id, lambda f: d.register_person(
        f, command, production=s.environment == "production", rule_2032=s.id_rule_2032),
        body={"patient_id": str(patient_id)})


@router.post("/patients/{patient_id}/care-relations", status_code=201, tags=["care relations"])
async def start_care_relation(patient_id: UUID, body: c.StartCareRelation, request: Request,
                              w: CareRelationWrite):
    """A unit leader assigns a care relation to their unit (or a named professional of it),
    with a basis and a reason. Where the organisation's policy allows it, a professional of an
    organisation that already treats the patient may declare one for themself: time-limited and
    reviewed by the unit leader. Anyone else gets the generic 403 (they have emergency access);
    care relations otherwise come from the journal (``projections/journal_bridge.py``)."""
    rules = request.app.state.relation_rules
    facts, _ = await w.store.current(patient_id)
    source = r.relation_source(facts, body, w.actor, w.now, rules)
    if source is None:
        refusal = not_found_safe()   # logged: the unit leader sees the attempt
        await w.access.record(w.subject, Action.write, Resource(
            patient_id=patient_id, category="care_relations"), refusal,
            purpose=body.purpose, resources=("care_relations",))
        raise AccessDenied(refusal)
    r.start_care_relation(facts, body, w.actor, w.now, source, rules)  # 422 before it is logged
    w.declared = RELATION_ACCESS[source]
    return await w.apply(lambda f: r.start_care_relation(f, body, w.actor, w.now, source, rules),
                         body=created("relation_id"), purpose=body.purpose,
                         access_purpose=f"{body.purpose}: {body.reason}")


@router.post("/patients/{patient_id}/care-relations/{relation_id}/end", status_code=200,
             tags=["care relations"])
async def end_care_relation(patient_id: UUID, relation_id: UUID, w: EndCareRelationWrite,
                            reason: Annotated[str | None, Query(max_length=2000)] = None):
    command = c.EndCareRelation(relation_id=relation_id, reason=reason)
    return await w.apply(lambda f: d.end_care_relation(f, command, w.actor, w.now),
                         body={"relation_id": str(relation_id)}, status=200)


@router.post("/patients/{patient_id}/emergency-access", status_code=201, tags=["emergency"])
async def break_the_glass(patient_id: UUID, body: c.GrantEmergencyAccess, w: EmergencyWrite):
    """Emergency access (akuttilgang): a declared basis and reason, time-limited, reviewed."""
    events = d.grant_emergency(body, w.actor, w.now)   # refused before anything is logged
    g = events[0]
    return await w.apply(lambda f: events, purpose="emergency",
                         access_purpose=f"{body.basis}: {body.reason}",
                         body={"access_id": str(g.access_id),
                               "expires_at": g.expires_at.isoformat()})


class OpenedEntries(BaseModel):
    opened: list[str]
    patient_notified: bool


@router.post("/patients/{patient_id}/restricted-entries/open", tags=["restrictions"],
             response_model=OpenedEntries)
async def open_restricted(patient_id: UUID, body: c.OpenRestricted, w: OpenRestrictedWrite):
    """Open locked entries with a stated basis; logged, and the patient told if they asked."""
    declaration = {"basis": body.basis, "reason": body.reason}
    grant = await w.require(Resource(
        patient_id=patient_id, entries=frozenset(body.entries), declaration=declaration),
        action=Action.open_restricted, purpose="open_restricted", resources=body.entries)
    notify = Obligation.notify_patient in grant.decision.obligations
    return await w.apply(lambda f: d.open_restricted(f, body, w.actor, w.now, notify),
                         status=200, body=lambda result: {
                             "opened": result.envelopes[0].data["entries"],
                             "patient_notified": result.envelopes[0].data["notify_patient"]})


@router.post("/patients/{patient_id}/child-welfare-reports", status_code=201,
             tags=["child welfare"])
async def report_child_welfare(patient_id: UUID, body: c.ReportChildWelfare,
                               w: ChildWelfareWrite):
    """The duty to notify child welfare (hpl § 33): no consent, recorded as its own flow."""
    return await w.apply(lambda f: d.report_child_welfare(f, body, w.actor, w.now),
                         body=created("report_id"))


@router.post("/patients/{patient_id}/guardians", status_code=201, tags=["proxies"])
async def register_guardian(patient_id: UUID, body: c.RegisterGuardian, w: GuardiansWrite):
    """Parental responsibility and shared address, as the population register states them."""
    return await w.apply(lambda f: d.register_guardian(f, body, w.now),
                         body={"guardian": str(body.guardian)})


@router.post("/patients/{patient_id}/devices", status_code=201, tags=["devices"])
async def assign_device(patient_id: UUID, body: c.AssignDevice, w: DevicesWrite):
    return await w.apply(lambda f: d.assign_device(f, body, w.now),
                         body={"client_id": body.client_id})
