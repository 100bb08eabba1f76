"""Emergency access (akuttilgang), deliberately: a page of its own reached only from a refusal,
a declared basis (the patient's consent, or necessity) and a written reason, and a confirmation
that the access is logged and reviewed by the unit leader. The grant is the consent service's
(``POST /patients/{id}/emergency-access`` with the clinician's own token), which also makes the
review item; the workspace only waits (bounded) until the journal has the grant."""

from __future__ import annotations

import asyncio
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Form, Request
from fastapi.responses import RedirectResponse

from services.workspace.domain import visit
from services.workspace.http.auth import csrf_ok, signed_in
from services.workspace.http.backends import Backends, Denied
from services.workspace.http.pages import backends, render
from services.workspace.store import Session
from libs.web.routing import PathRouter

router = PathRouter(include_in_schema=False)
BASES = ("necessity", "consent")
WAIT_S, STEP_S = 15.0, 0.25   # how long the journal may take to fold the grant


@router.get("/patients/{patient_id}/emergency")
async def dialog(patient_id: UUID, request: Request, session: Session = Depends(signed_in)):
    return render(request, "emergency.html", "emergency_title", session,
                  patient_id=patient_id, errors=[], form={})


async def _until_readable(api: Backends, token: str, patient_id: UUID) -> bool:
    for _ in range(int(WAIT_S / STEP_S)):
        try:
            await api.call(api.journal, "GET", f"/patients/{patient_id}", token)
            return True
        except Denied:
            await asyncio.sleep(STEP_S)
    return False


@router.post("/patients/{patient_id}/emergency")
async def grant(patient_id: UUID, request: Request,
                csrf: Annotated[str, Form(max_length=100)] = "",
                basis: Annotated[str, Form(max_length=20)] = "",
                reason: Annotated[str, Form(max_length=2000)] = "",
                understood: Annotated[str, Form(max_length=10)] = "",
                session: Session = Depends(signed_in)):
    if not csrf_ok(session, csrf):
        raise visit.FormRefused()
    form = {"basis": basis, "reason": reason}
    errors = [key for key, bad in (("basis_needed", basis not in BASES),
                                   ("reason_needed_emergency", not reason.strip()),
                                   ("understood_needed", understood != "yes")) if bad]
    api = backends(request)
    if not errors:
        answer = await api.call(api.consent, "POST", f"/patients/{patient_id}/emergency-access",
                                session.token, json={"basis": basis, "reason": reason.strip()})
        if answer.ok:
            if await _until_readable(api, session.token, patient_id):
                return RedirectResponse(f"/patients/{patient_id}", status_code=303)
            raise Denied()
        errors = visit.problems(answer.body)
    return render(request, "emergency.html", "emergency_title", session, status=422,
                  patient_id=patient_id, errors=errors, form=form)
