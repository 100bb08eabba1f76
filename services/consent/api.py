"""HTTP API of the consent service. Every route that touches a patient is decided by libs/access
and logged (``guarded`` or ``Access.require``/``record``) before anything is returned.

Professionals: declare and end care relations, break the glass, open restricted entries, report
to child welfare, register persons, guardians and devices; unit leaders review flagged accesses.
Citizens (and their proxies): consents, blocks, restrictions, notifications, mandates, and who
looked at their record. Sectors outside health care: consented, limited extracts.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import text

from libs.access import events as ev
from libs.access.guard import AccessDep, CurrentSubject, Grant, guarded
from libs.access.model import (
    Action, Basis, Citizen, Decision, Obligation, Practitioner, Resource, SectorOfficial,
)
from libs.access.policy import decide, may_review, not_found_safe
from libs.events.envelope import Actor, new_event_id
from libs.events.store import AppendResult
from libs.web.consistency import set_consistency_token
from services.consent import domain as d
from services.consent.handlers import PatientAccessStore
from services.consent.views import access_log_view, consent_view, facts_view

router = APIRouter()


def patients(request: Request) -> PatientAccessStore:
    return request.app.state.patients


Patients = Annotated[PatientAccessStore, Depends(patients)]


def actor_of(who) -> Actor:
    if isinstance(who, Practitioner):
        return Actor(kind="practitioner", id=who.actor_id, organisation=who.org_parent,
                     unit=who.unit, role=",".join(sorted(who.roles)) or None)
    if isinstance(who, Citizen):
        return Actor(kind="citizen", id=who.actor_id)
    if isinstance(who, SectorOfficial):
        return Actor(kind="system", id=f"{who.sector}:{who.org}")
    return Actor(kind="device", id=who.actor_id)


def practitioner(who) -> Practitioner:
    if not isinstance(who, Practitioner):
        raise d.Refused(403, "Only health personnel can do this.")
    return who


def written(response: Response, result: AppendResult, body: dict[str, Any]) -> dict[str, Any]:
    set_consistency_token(response, result)
    response.status_code = 201
    return body | {"consistency_token": result.token.encode()}


def declared(reason: str, basis: Basis, *extra: Obligation) -> Decision:
    return Decision(permit=True, reason=reason, basis=basis, message="Registrert.",
                    obligations=frozenset({Obligation.log, *extra}))


# --- persons and relations (health personnel) ------------------------------------------------

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
                                 actor_of(pro), body.purpose)
    rid = result.envelopes[0].data["relation_id"]
    return written(response, result, {"relation_id": rid})


@router.post("/patients/{patient_id}/care-relations/{relation_id}/end", status_code=201,
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
    return written(response, result, {"relation_id": str(relation_id)})


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
    result = await store.execute(patient_id, lambda f: events, actor_of(pro), "emergency")
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
                                 actor_of(pro), "duty_to_notify")
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


# --- the patient's own choices (citizens and their proxies) ----------------------------------

@router.get("/me", tags=["citizens"])
async def me(who: CurrentSubject, request: Request, access: AccessDep):
    """The citizen's patient id, and whom they may act for now (children, mandate givers)."""
    if not isinstance(who, Citizen) or who.patient_id is None:
        raise d.Refused(403, "Only a citizen with a record here has a 'me'.")
    async with request.app.state.engine.connect() as conn:
        rows = await conn.execute(text("""
            SELECT patient_id FROM access_facts
             WHERE doc->'guardians' @> CAST(:g AS jsonb) OR doc->'mandates' @> CAST(:m AS jsonb)
        """), {"g": f'[{{"guardian": "{who.patient_id}"}}]',
               "m": f'[{{"representative": "{who.patient_id}"}}]'})
        candidates = [r[0] for r in rows]
    now, principals = access.now(), []
    for pid in candidates:
        proxy = who.model_copy(update={"acting_for": pid})
        decision = decide(proxy, Action.read, Resource(patient_id=pid),
                          await access.reader.facts(pid), now)
        if decision.permit:
            principals.append({"patient_id": str(pid), "as": decision.basis.value,
                               "limited": decision.categories is not None})
    return {"patient_id": str(who.patient_id), "can_act_for": principals}


ManageGrant = Annotated[Grant, Depends(guarded(Action.manage, "consents"))]


@router.get("/patients/{patient_id}/consents", tags=["consents"])
async def list_consents(patient_id: UUID, access: AccessDep,
                        grant: Annotated[Grant, Depends(guarded(Action.read, "consents"))]):
    return [consent_view(c, access.now()) for c in grant.facts.consents]


@router.get("/patients/{patient_id}/privacy", tags=["consents"])
async def privacy_settings(patient_id: UUID, access: AccessDep, grant: ManageGrant):
    """Everything the patient has chosen: consents, blocks, restrictions, mandates, notices."""
    return facts_view(grant.facts, access.now())


@router.post("/patients/{patient_id}/consents", status_code=201, tags=["consents"])
async def give_consent(patient_id: UUID, body: d.GiveConsent, response: Response,
                       store: Patients, access: AccessDep, grant: ManageGrant):
    who: Citizen = grant.subject
    now = access.now()
    result = await store.execute(patient_id, lambda f: d.give_consent(f, body, who, now),
                                 actor_of(who), body.purpose)
    return written(response, result, {"consent_id": result.envelopes[0].data["consent_id"]})


@router.post("/patients/{patient_id}/consents/{consent_id}/withdraw", status_code=201,
             tags=["consents"])
async def withdraw_consent(patient_id: UUID, consent_id: UUID, response: Response,
                           store: Patients, access: AccessDep, grant: ManageGrant):
    now = access.now()
    c = d.WithdrawConsent(consent_id=consent_id)
    result = await store.execute(patient_id, lambda f: d.withdraw_consent(f, c, now),
                                 actor_of(grant.subject))
    return written(response, result, {"consent_id": str(consent_id)})


@router.post("/patients/{patient_id}/blocks", status_code=201, tags=["blocks"])
async def block(patient_id: UUID, body: d.RegisterBlock, response: Response, store: Patients,
                access: AccessDep, grant: ManageGrant):
    """Object to a named professional or unit seeing the record (wins over everything)."""
    now = access.now()
    result = await store.execute(patient_id, lambda f: d.register_block(f, body, now),
                                 actor_of(grant.subject))
    return written(response, result, {"block_id": result.envelopes[0].data["block_id"]})


@router.delete("/patients/{patient_id}/blocks/{block_id}", status_code=201, tags=["blocks"])
async def lift_block(patient_id: UUID, block_id: UUID, response: Response, store: Patients,
                     access: AccessDep, grant: ManageGrant):
    now = access.now()
    result = await store.execute(patient_id, lambda f: d.lift_block(f, block_id, now),
                                 actor_of(grant.subject))
    return written(response, result, {"block_id": str(block_id)})


@router.post("/patients/{patient_id}/restrictions", status_code=201, tags=["restrictions"])
async def restrict(patient_id: UUID, body: d.RestrictEntry, response: Response,
                   store: Patients, access: AccessDep, grant: ManageGrant):
    """Lock an entry or section (sperring), or hide it from guardians (12–16)."""
    now = access.now()
    result = await store.execute(patient_id, lambda f: d.restrict_entry(f, body, now),
                                 actor_of(grant.subject))
    return written(response, result,
                   {"restriction_id": result.envelopes[0].data["restriction_id"]})


@router.delete("/patients/{patient_id}/restrictions/{restriction_id}", status_code=201,
               tags=["restrictions"])
async def lift_restriction(patient_id: UUID, restriction_id: UUID, response: Response,
                           store: Patients, access: AccessDep, grant: ManageGrant):
    now = access.now()
    result = await store.execute(patient_id, lambda f: d.lift_restriction(f, restriction_id,
                                                                           now),
                                 actor_of(grant.subject))
    return written(response, result, {"restriction_id": str(restriction_id)})


@router.put("/patients/{patient_id}/notifications", status_code=201, tags=["consents"])
async def choose_notifications(patient_id: UUID, body: d.ChooseNotifications,
                               response: Response, store: Patients, grant: ManageGrant):
    result = await store.execute(patient_id, lambda f: [ev.NotificationsChosen(
        **body.model_dump())], actor_of(grant.subject))
    return written(response, result, body.model_dump())


@router.post("/patients/{patient_id}/mandates", status_code=201, tags=["proxies"])
async def grant_mandate(patient_id: UUID, body: d.GrantMandate, response: Response,
                        store: Patients, access: AccessDep, grant: ManageGrant):
    """A mandate (fullmakt) to another person: giver ≥ 16, receiver ≥ 18."""
    if not isinstance(grant.subject, Citizen) or grant.subject.acting_for not in (
            None, grant.subject.patient_id):
        raise d.Refused(403, "Only the person themself can give a mandate.")
    representative, _ = await store.facts(body.representative)
    now = access.now()
    result = await store.execute(patient_id, lambda f: d.grant_mandate(f, body, representative,
                                                                        now),
                                 actor_of(grant.subject))
    return written(response, result, {"mandate_id": result.envelopes[0].data["mandate_id"]})


@router.delete("/patients/{patient_id}/mandates/{mandate_id}", status_code=201,
               tags=["proxies"])
async def revoke_mandate(patient_id: UUID, mandate_id: UUID, response: Response,
                         store: Patients, access: AccessDep, grant: ManageGrant):
    now = access.now()
    result = await store.execute(patient_id, lambda f: d.revoke_mandate(f, mandate_id, now),
                                 actor_of(grant.subject))
    return written(response, result, {"mandate_id": str(mandate_id)})


@router.get("/patients/{patient_id}/access-log", tags=["access log"])
async def access_log(
        patient_id: UUID, request: Request,
        grant: Annotated[Grant, Depends(guarded(Action.read, "access_log"))],
        since: date | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 200):
    """Who has looked at the record: time, person, organisation, unit, basis (req 49)."""
    if not isinstance(grant.subject, Citizen):
        raise d.Refused(403, not_found_safe().message)
    async with request.app.state.engine.connect() as conn:
        rows = await conn.execute(text("""
            SELECT event_id, doc FROM access_log WHERE patient_id = :p
               AND (CAST(:s AS date) IS NULL OR accessed_at >= CAST(:s AS date))
             ORDER BY accessed_at DESC LIMIT :n"""), {"p": patient_id, "s": since, "n": limit})
        return [access_log_view(r[0], r[1]) for r in rows]


# --- sectors outside health care -------------------------------------------------------------

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
    result = await store.execute(patient_id, lambda f: [event], actor_of(who), "disclosure")
    return written(response, result, {"disclosure_id": str(event.disclosure_id),
                                      "categories": [body.category],
                                      "withheld": sorted(grant.decision.hidden)})


# --- review (unit leaders) -------------------------------------------------------------------

@router.get("/reviews", tags=["review"])
async def reviews(request: Request, who: CurrentSubject,
                  status: Literal["open", "reviewed", "all"] = "open",
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100):
    """Emergency accesses, restricted entries opened on necessity and attempts without
    need-to-know in the leader's unit, for log control (AC13)."""
    pro = practitioner(who)
    if not may_review(pro, pro.unit):
        raise d.Refused(403, "Only the unit leader reviews the access log of the unit.")
    async with request.app.state.engine.connect() as conn:
        rows = await conn.execute(text("""
            SELECT item_id, patient_id, unit, kind, created_at, summary, reviewed_at, outcome,
                   reviewer, note FROM review_items
             WHERE unit = ANY(:units) AND (:st = 'all' OR (:st = 'open') = (reviewed_at IS NULL))
             ORDER BY created_at DESC LIMIT :n"""),
            {"units": [pro.unit, pro.org_parent], "st": status, "n": limit})
        return [dict(r._mapping) for r in rows]


class ReviewBody(BaseModel):
    outcome: Literal["justified", "escalated"]
    note: str | None = Field(default=None, max_length=2000)


@router.post("/reviews/{item_id}", status_code=201, tags=["review"])
async def review(item_id: UUID, body: ReviewBody, request: Request, who: CurrentSubject,
                 response: Response, access: AccessDep, store: Patients):
    pro = practitioner(who)
    async with request.app.state.engine.connect() as conn:
        row = (await conn.execute(text(
            "SELECT patient_id, unit, reviewed_at FROM review_items WHERE item_id = :i"),
            {"i": item_id})).first()
    if row is None or not may_review(pro, row.unit):
        raise d.Refused(404, "No such review item in your unit.")
    if row.reviewed_at is not None:
        raise d.Refused(409, "This item is already reviewed.")
    event = ev.AccessReviewed(review_id=new_event_id(), access_event_id=item_id,
                              reviewer_hpr=pro.hpr, unit=row.unit, outcome=body.outcome,
                              note=body.note, reviewed_at=access.now())
    await access.record(pro, Action.read, Resource(patient_id=row.patient_id,
                                                   category="access_log"),
                        declared("log_control", Basis.log_control), purpose="log_control")
    result = await store.execute(row.patient_id, lambda f: [event], actor_of(pro))
    return written(response, result, {"review_id": str(event.review_id)})
