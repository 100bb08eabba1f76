"""Doing the visit: vital signs, doses given / missed / refused, tasks completed, the visit note
signed. Each is a command to the owning service with the version the nurse saw (If-Match);
its checks come back as the service wrote them. A stale version (412) shows what changed since
and lets the nurse decide: send it again against the new version, or drop it. A command sent
with an ``Idempotency-Key`` (queued offline by ``static/app.js``) passes the key on to the
owning service, which records it with the events and answers a repeat with the first answer
(``libs/web/idempotency.py``): the workspace keeps no state of its own for it."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import Depends, Form, Request
from fastapi.responses import RedirectResponse

from services.workspace.domain import visit
from services.workspace.http.auth import csrf_ok, signed_in
from services.workspace.http.backends import Answer, Backends
from services.workspace.http.pages import backends, render, show_patient
from services.workspace.store import Session
from libs.web.routing import PathRouter

router = PathRouter(include_in_schema=False)
KEY = "Idempotency-Key"
Short = Annotated[str, Form(max_length=100)]
Text = Annotated[str, Form(max_length=20000)]


def _checked(session: Session, csrf: str) -> None:
    if not csrf_ok(session, csrf):
        raise visit.FormRefused()


def keyed(request: Request, headers: dict[str, str], part: int | None = None
          ) -> dict[str, str]:
    """The command's ``Idempotency-Key`` passed on to the owner with ``headers`` (a form that
    is several commands gives each its own part: ``<key>.<n>``)."""
    key = request.headers.get(KEY)
    if key is None:
        return headers
    return headers | {KEY: key if part is None else f"{key}.{part}"}


def _back(patient_id: UUID, answer: Answer, service: str) -> RedirectResponse:
    token = (answer.body or {}).get("consistency_token") if isinstance(answer.body, dict) \
        else None
    query = "?" + urlencode({service: token}) if token else ""
    return RedirectResponse(f"/patients/{patient_id}{query}#visit", status_code=303)


async def _conflict(request: Request, session: Session, patient_id: UUID, service: str,
                    action: str, fields: dict[str, str], sent: str, read_at: str):
    """The 412: what changed since the nurse's version, and the choice."""
    api: Backends = backends(request)
    if service == "j":
        timeline = (await api.call(api.journal, "GET", f"/patients/{patient_id}/timeline",
                                   session.token, params={"limit": "50"})).body
        changes = visit.journal_changes(timeline.get("entries", ()), sent)
        current = str(timeline.get("version"))
    else:
        history = await api.call(api.medication, "GET",
                                 f"/patients/{patient_id}/medication-list/history",
                                 session.token)
        changes = visit.medication_changes(history.body.get("changes", ()), read_at)
        current = str(history.body.get("version"))
    return render(request, "conflict.html", "conflict_title", session, status=409,
                  patient_id=patient_id, action=action, changes=changes,
                  fields=fields | {"version": current, "read_at": visit.now_iso()})


async def _failed(request: Request, session: Session, patient_id: UUID, answer: Answer,
                  where: str, form: dict | None = None):
    return await show_patient(request, session, patient_id, status=answer.status,
                              errors={where: visit.problems(answer.body)}, form=form)


@router.post("/patients/{patient_id}/vitals")
async def record_vitals(patient_id: UUID, request: Request, csrf: Short = "",
                        version: Short = "", read_at: Short = "", pulse: Short = "",
                        systolic: Short = "", diastolic: Short = "", temperature: Short = "",
                        session: Session = Depends(signed_in)):
    _checked(session, csrf)
    fields = {"pulse": pulse, "systolic": systolic, "diastolic": diastolic,
              "temperature": temperature}
    wanted, unreadable = visit.vital_signs(fields)
    if unreadable or not wanted:
        return await show_patient(request, session, patient_id, status=422,
                                  errors={"vitals": unreadable or ["missing"]}, form=fields)
    api, tag, last = backends(request), version, None
    for n, body in enumerate(wanted):
        answer = await api.call(api.journal, "POST", f"/patients/{patient_id}/observations",
                                session.token, json=body,
                                headers=keyed(request, visit.if_match(tag), n))
        if answer.status == 412:
            return await _conflict(request, session, patient_id, "j", "vitals", fields | {
                "csrf": csrf}, tag, read_at)
        if not answer.ok:
            return await _failed(request, session, patient_id, answer, "vitals", fields)
        tag, last = answer.etag or tag, answer
    return _back(patient_id, last, "j")


@router.post("/patients/{patient_id}/doses/{entry_id}")
async def record_dose(patient_id: UUID, entry_id: UUID, request: Request, csrf: Short = "",
                      version: Short = "", read_at: Short = "", outcome: Short = "given",
                      scheduled_for: Short = "", reason: Annotated[str, Form(
                          max_length=2000)] = "", session: Session = Depends(signed_in)):
    _checked(session, csrf)
    if outcome != "given" and not reason.strip():
        return await show_patient(request, session, patient_id, status=422,
                                  errors={f"dose-{entry_id}": ["reason_needed"]})
    body: dict[str, Any] = {"outcome": outcome, "note": reason.strip() or None}
    if scheduled_for:
        body["scheduled_for"] = scheduled_for
    api = backends(request)
    answer = await api.call(api.medication, "POST", f"/patients/{patient_id}/medication-list/"
                            f"entries/{entry_id}/administrations", session.token,
                            json=body, headers=keyed(request, visit.if_match(version)))
    if answer.status == 412:
        return await _conflict(request, session, patient_id, "m", f"doses/{entry_id}", {
            "csrf": csrf, "outcome": outcome, "scheduled_for": scheduled_for,
            "reason": reason}, version, read_at)
    if not answer.ok:
        return await _failed(request, session, patient_id, answer, f"dose-{entry_id}")
    return _back(patient_id, answer, "m")


@router.post("/patients/{patient_id}/tasks/{task_id}")
async def complete_task(patient_id: UUID, task_id: UUID, request: Request, csrf: Short = "",
                        version: Short = "", read_at: Short = "", text: Text = "",
                        session: Session = Depends(signed_in)):
    _checked(session, csrf)
    api = backends(request)
    answer = await api.call(api.journal, "POST",
                            f"/patients/{patient_id}/tasks/{task_id}/complete", session.token,
                            json={"text": text.strip() or visit.DONE},
                            headers=keyed(request, visit.if_match(version)))
    if answer.status == 412:
        return await _conflict(request, session, patient_id, "j", f"tasks/{task_id}", {
            "csrf": csrf, "text": text}, version, read_at)
    if not answer.ok:
        return await _failed(request, session, patient_id, answer, f"task-{task_id}")
    return _back(patient_id, answer, "j")


@router.post("/patients/{patient_id}/note")
async def sign_note(patient_id: UUID, request: Request, csrf: Short = "", version: Short = "",
                    read_at: Short = "", text: Text = "",
                    session: Session = Depends(signed_in)):
    _checked(session, csrf)
    api = backends(request)
    answer = await api.call(api.journal, "POST", f"/patients/{patient_id}/notes",
                            session.token, params={"sign": "true"},
                            json={"kind": "home_care_visit", "text": text.strip()},
                            headers=keyed(request, visit.if_match(version)))
    if answer.status == 412:
        return await _conflict(request, session, patient_id, "j", "note", {
            "csrf": csrf, "text": text}, version, read_at)
    if not answer.ok:
        return await _failed(request, session, patient_id, answer, "note")
    return _back(patient_id, answer, "j")
