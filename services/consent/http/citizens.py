"""The patient's own choices, by the patient or a proxy: consents, blocks, restrictions,
notifications, mandates, and who looked at the record."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Query, Request
from sqlalchemy import text

from libs.access.model import Action, Citizen, Resource
from libs.access.policy import DEFAULT, decide, not_found_safe
from libs.kernel.errors import Forbidden
from libs.web.guard import AccessDep, CurrentSubject, Grant, guarded
from libs.web.write import created
from libs.web.routing import PathRouter
from services.consent.domain import commands as c
from services.consent.domain import decisions as d
from services.consent.http.deps import ChoicesWrite
from services.consent.http.views import access_log_view, consent_view, facts_view

router = PathRouter()


@router.get("/me", tags=["citizens"])
async def me(who: CurrentSubject, request: Request, access: AccessDep):
    """The citizen's patient id, and whom they may act for now (children, mandate givers)."""
    if not isinstance(who, Citizen) or who.patient_id is None:
        raise Forbidden("Only a citizen with a record here has a 'me'.")
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
        if decision.permit:   # listing a principal is an access to their record: logged
            await access.record(proxy, Action.read, Resource(patient_id=pid, category="proxy"),
                                decision, resources=("proxy",))
            principals.append({"patient_id": str(pid), "as": decision.basis.value,
                               "limited": decision.categories is not None})
    return {"patient_id": str(who.patient_id), "can_act_for": principals}


ManageGrant = Annotated[Grant, Depends(guarded(Action.manage, "consents"))]


@router.get("/patients/{patient_id}/consents", tags=["consents"])
async def list_consents(patient_id: UUID, access: AccessDep,
                        grant: Annotated[Grant, Depends(guarded(Action.read, "consents"))]):
    return [consent_view(x, access.now()) for x in grant.facts.consents]


@router.get("/patients/{patient_id}/privacy", tags=["consents"])
async def privacy_settings(patient_id: UUID, access: AccessDep, grant: ManageGrant):
    """Everything the patient has chosen: consents, blocks, restrictions, mandates, notices."""
    return facts_view(grant.facts, access.now())


@router.post("/patients/{patient_id}/consents", status_code=201, tags=["consents"])
async def give_consent(patient_id: UUID, body: c.GiveConsent, w: ChoicesWrite):
    return await w.apply(lambda f: d.give_consent(f, body, w.subject, w.now),
                         body=created("consent_id"), purpose=body.purpose)


@router.post("/patients/{patient_id}/consents/{consent_id}/withdraw", status_code=200,
             tags=["consents"])
async def withdraw_consent(patient_id: UUID, consent_id: UUID, w: ChoicesWrite):
    command = c.WithdrawConsent(consent_id=consent_id)
    return await w.apply(lambda f: d.withdraw_consent(f, command, w.now),
                         body={"consent_id": str(consent_id)}, status=200)


@router.post("/patients/{patient_id}/blocks", status_code=201, tags=["blocks"])
async def block(patient_id: UUID, body: c.RegisterBlock, w: ChoicesWrite):
    """Object to a named professional or unit seeing the record (wins over everything)."""
    return await w.apply(lambda f: d.register_block(f, body, w.now), body=created("block_id"))


@router.delete("/patients/{patient_id}/blocks/{block_id}", status_code=200, tags=["blocks"])
async def lift_block(patient_id: UUID, block_id: UUID, w: ChoicesWrite):
    return await w.apply(lambda f: d.lift_block(f, block_id, w.now),
                         body={"block_id": str(block_id)}, status=200)


@router.post("/patients/{patient_id}/restrictions", status_code=201, tags=["restrictions"])
async def restrict(patient_id: UUID, body: c.RestrictEntry, w: ChoicesWrite):
    """Lock an entry or section (sperring), or hide it from guardians (12–16)."""
    return await w.apply(lambda f: d.restrict_entry(f, body, w.now, rules=DEFAULT),
                         body=created("restriction_id"))


@router.delete("/patients/{patient_id}/restrictions/{restriction_id}", status_code=200,
               tags=["restrictions"])
async def lift_restriction(patient_id: UUID, restriction_id: UUID, w: ChoicesWrite):
    return await w.apply(lambda f: d.lift_restriction(f, restriction_id, w.now),
                         body={"restriction_id": str(restriction_id)}, status=200)


@router.put("/patients/{patient_id}/consent-level", status_code=200, tags=["consents"])
async def choose_consent_level(patient_id: UUID, body: c.ChooseConsentLevel, w: ChoicesWrite):
    """Basis or full (helsenorge's samtykkenivå); full is needed to message the care team."""
    return await w.apply(lambda f: d.choose_consent_level(f, body, w.now),
                         body=body.model_dump(), unchanged=body.model_dump(), status=200)


@router.put("/patients/{patient_id}/notifications", status_code=200, tags=["consents"])
async def choose_notifications(patient_id: UUID, body: c.ChooseNotifications, w: ChoicesWrite):
    return await w.apply(lambda f: d.choose_notifications(body), body=body.model_dump(),
                         status=200)


@router.post("/patients/{patient_id}/mandates", status_code=201, tags=["proxies"])
async def grant_mandate(patient_id: UUID, body: c.GrantMandate, w: ChoicesWrite):
    """A mandate (fullmakt) to another person: giver ≥ 16, receiver ≥ 18."""
    if not isinstance(w.subject, Citizen) or w.subject.acting_for not in (
            None, w.subject.patient_id):
        raise Forbidden("Only the person themself can give a mandate.")
    representative, _ = await w.store.current(body.representative)
    return await w.apply(lambda f: d.grant_mandate(f, body, representative, w.now,
                                                     rules=DEFAULT),
                         body=created("mandate_id"))


@router.delete("/patients/{patient_id}/mandates/{mandate_id}", status_code=200,
               tags=["proxies"])
async def revoke_mandate(patient_id: UUID, mandate_id: UUID, w: ChoicesWrite):
    return await w.apply(lambda f: d.revoke_mandate(f, mandate_id, w.now),
                         body={"mandate_id": str(mandate_id)}, status=200)


@router.get("/patients/{patient_id}/access-log", tags=["access log"])
async def access_log(
        patient_id: UUID, request: Request,
        grant: Annotated[Grant, Depends(guarded(Action.read, "access_log"))],
        since: date | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 200):
    """Who has looked at the record: time, person, organisation, unit, basis (req 49)."""
    if not isinstance(grant.subject, Citizen):
        raise Forbidden(not_found_safe().message)
    async with request.app.state.engine.connect() as conn:
        rows = await conn.execute(text("""
            SELECT event_id, doc FROM access_log WHERE patient_id = :p
               AND (CAST(:s AS date) IS NULL OR accessed_at >= CAST(:s AS date))
             ORDER BY accessed_at DESC LIMIT :n"""), {"p": patient_id, "s": since, "n": limit})
        return [access_log_view(r[0], r[1]) for r in rows]
