"""Health personnel: persons, care relations, emergency access, restricted entries, the duty
to notify child welfare, guardians and devices."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from libs.access.guard import AccessDep, CurrentSubject, Grant, actor_of, declared, guarded
from libs.access.model import Action, Basis, Obligation, Resource
from libs.events.envelope import new_event_id
from libs.web.consistency import set_consistency_token
from libs.web.consistency import written
from services.consent import domain as d
from services.consent.routes.common import Patients, practitioner

router = APIRouter()


class RegisterPersonBody(d.RegisterPerson):
    patient_id: UUID | None = Field(default=None, description="internal id; new if omitted")


@router.post("/persons", status_code=201, tags=["persons"])
async def register_person(body: RegisterPersonBody, who: CurrentSubject, response: Response,
                          request: Request, access: AccessDep, store: Patients):
    """Make a person known to the access model (national id validated, its type stored)."""
    pro = practitioner(who)
    s = request.app.state.settings
    patient_id = body.patient_id or new_event_id()
    command = d.RegisterPerson(**body.model_dump(exclude={"patient_id"}))
    await access.record(pro, Action.write, Resource(patient_id=patient_id, category="identity"),
                        declared("person_registered", Basis.administration))
    result = await store.register(patient_id, lambda f: d.register_person(
        f, command, production=s.environment == "production", rule_2032=s.id_rule_2032),
        actor_of(pro))
    return written(response, result, {"patient_id": str(patient_id)})


@router.post("/patients/{patient_id}/care-relations", status_code=201, tags=["care relations"])
async def start_care_relation(patient_id: UUID, body: d.StartCareRelation, who: CurrentSubject,
                              response: Response, access: AccessDep, store: Patients):
    """Declare a care relation for your unit (or a named professional in it)."""
    pro = practitioner(who)
    await access.record(pro, Action.write, Resource(patient_id=patient_id,
                                                    category="care_relations"),
                        declared("care_relation_declared", Basis.care_relation),
                        purpose=body.purpose)
    now = access.now()
    result = await store.execute(patient_id, lambda f: d.start_care_relation(f, body, pro, now),
                                 actor_of(pro), purpose=body.purpose)
    rid = result.envelopes[0].data["relation_id"]
    return written(response, result, {"relation_id": rid})


@router.post("/patients/{patient_id}/care-relations/{relation_id}/end", status_code=200,
             tags=["care relations"])
async def end_care_relation(patient_id: UUID, relation_id: UUID, who: CurrentSubject,
                            response: Response, access: AccessDep, store: Patients,
                            reason: Annotated[str | None, Query(max_length=2000)] = None):
    pro = practitioner(who)
    await access.record(pro, Action.write, Resource(patient_id=patient_id,
                                                    category="care_relations"),
                        declared("care_relation_ended", Basis.care_relation))
    now = access.now()
    command = d.EndCareRelation(relation_id=relation_id, reason=reason)
    result = await store.execute(patient_id, lambda f: d.end_care_relation(f, command, pro, now),
                                 actor_of(pro))
    return written(response, result, {"relation_id": str(relation_id)}, status=200)


@router.post("/patients/{patient_id}/emergency-access", status_code=201, tags=["emergency"])
async def break_the_glass(patient_id: UUID, body: d.GrantEmergencyAccess, who: CurrentSubject,
                          response: Response, access: AccessDep, store: Patients):
    """Emergency access (akuttilgang): a declared basis and reason, time-limited, reviewed."""
    pro = practitioner(who)
    now = access.now()
    events = d.grant_emergency(body, pro, now)
    await access.record(pro, Action.write, Resource(patient_id=patient_id, category="emergency"),
                        declared("emergency_access_granted", Basis.emergency,
                                 Obligation.mark_emergency, Obligation.review),
                        purpose=f"{body.basis}: {body.reason}")
    result = await store.execute(patient_id, lambda f: events, actor_of(pro),
                                 purpose="emergency")
    g = events[0]
    return written(response, result, {"access_id": str(g.access_id),
                                      "expires_at": g.expires_at.isoformat()})


class OpenedEntries(BaseModel):
    opened: list[str]
    patient_notified: bool


@router.post("/patients/{patient_id}/restricted-entries/open", tags=["restrictions"])
async def open_restricted(patient_id: UUID, body: d.OpenRestricted, who: CurrentSubject,
                          response: Response, access: AccessDep, store: Patients):
    """Open locked entries with a stated basis; logged, and the patient told if they asked."""
    pro = practitioner(who)
    declaration = {"basis": body.basis, "reason": body.reason}
    grant = await access.require(pro, Action.open_restricted, Resource(
        patient_id=patient_id, entries=frozenset(body.entries), declaration=declaration),
        purpose="open_restricted", resources=body.entries)
    notify = Obligation.notify_patient in grant.decision.obligations
    now = access.now()
    result = await store.execute(patient_id, lambda f: d.open_restricted(f, body, pro, now,
                                                                          notify), actor_of(pro))
    set_consistency_token(response, result)
    data = result.envelopes[0].data
    return OpenedEntries(opened=data["entries"], patient_notified=data["notify_patient"])


@router.post("/patients/{patient_id}/child-welfare-reports", status_code=201,
             tags=["child welfare"])
async def report_child_welfare(
        patient_id: UUID, body: d.ReportChildWelfare, response: Response, store: Patients,
        access: AccessDep,
        grant: Annotated[Grant, Depends(guarded(Action.report_child_welfare, "child_welfare"))]):
    """The duty to notify child welfare (hpl § 33): no consent, recorded as its own flow."""
    pro = practitioner(grant.subject)
    now = access.now()
    result = await store.execute(patient_id, lambda f: d.report_child_welfare(f, body, pro, now),
                                 actor_of(pro), purpose="duty_to_notify")
    return written(response, result, {"report_id": result.envelopes[0].data["report_id"]})


@router.post("/patients/{patient_id}/guardians", status_code=201, tags=["proxies"])
async def register_guardian(
        patient_id: UUID, body: d.RegisterGuardian, response: Response, store: Patients,
        access: AccessDep, grant: Annotated[Grant, Depends(guarded(Action.write, "guardians"))]):
    """Parental responsibility and shared address, as the population register states them."""
    now = access.now()
    result = await store.execute(patient_id, lambda f: d.register_guardian(f, body, now),
                                 actor_of(grant.subject))
    return written(response, result, {"guardian": str(body.guardian)})


@router.post("/patients/{patient_id}/devices", status_code=201, tags=["devices"])
async def assign_device(
        patient_id: UUID, body: d.AssignDevice, response: Response, store: Patients,
        access: AccessDep, grant: Annotated[Grant, Depends(guarded(Action.write, "devices"))]):
    now = access.now()
    result = await store.execute(patient_id, lambda f: d.assign_device(f, body, now),
                                 actor_of(grant.subject))
    return written(response, result, {"client_id": body.client_id})
