"""What every route module of the consent service shares."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Response

from libs.access.model import Basis, Citizen, Decision, Obligation, Practitioner, SectorOfficial
from libs.events.envelope import Actor
from libs.events.store import AppendResult
from libs.web.consistency import set_consistency_token
from services.consent import domain as d
from services.consent.handlers import PatientAccessStore


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


def written(response: Response, result: AppendResult, body: dict[str, Any],
            status: int = 201) -> dict[str, Any]:
    """The answer to a write: its consistency token in the header and the body (201 for what
    it created, 200 for a change)."""
    set_consistency_token(response, result)
    response.status_code = status
    return body | {"consistency_token": result.token.encode()}


def declared(reason: str, basis: Basis, *extra: Obligation) -> Decision:
    return Decision(permit=True, reason=reason, basis=basis, message="Registrert.",
                    obligations=frozenset({Obligation.log, *extra}))
