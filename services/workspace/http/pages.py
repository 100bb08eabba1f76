"""The workspace's pages, server-rendered (Jinja2, plain forms and links): the landing page,
today's worklist and the patient at the door. Each page reads the owning services' APIs with
the clinician's own token, so what they may see, and the access log, are decided there."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.workspace.domain import chart, visit, worklist
from services.workspace.domain.worklist import OSLO
from services.workspace.http.auth import (
    SESSION_COOKIE, SignInFailed, SignInRequired, now, session_of, sessions, signed_in,
)
from services.workspace.http.backends import Backends, Denied, Expired, Unavailable
from services.workspace.http.texts import texts
from services.workspace.store import Session
from libs.web.routing import PathRouter

HERE = Path(__file__).parent
LANG_COOKIE = "ehr-lang"
ENV = Environment(loader=FileSystemLoader(HERE / "templates"),
                  autoescape=select_autoescape(["html"]))


def _local(value: Any, fmt: str = "%H:%M") -> str:
    """An instant as Oslo time: ``14:05`` (or ``fmt``)."""
    try:
        at = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        return at.astimezone(OSLO).strftime(fmt)
    except (TypeError, ValueError):
        return str(value)


ENV.filters["local"] = _local
HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
                                      "script-src 'self'; worker-src 'self'; "
                                      "connect-src 'self'; manifest-src 'self'; "
                                      "form-action 'self'; frame-ancestors 'none'; "
                                      "base-uri 'none'",
           "Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
           "X-Content-Type-Options": "nosniff"}
router = PathRouter(include_in_schema=False)


def lang_of(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in ("nb", "en"):
        return asked
    return "en" if request.cookies.get(LANG_COOKIE) == "en" else "nb"


def render(request: Request, template: str, title: str, session: Session | None = None,
           status: int = 200, **context: Any) -> HTMLResponse:
    lang = lang_of(request)
    t = texts(lang)
    html = ENV.get_template(template).render(
        lang=lang, t=t, title=t.get(title, title), session=session,
        csrf=session.csrf if session else None, **context)
    response = HTMLResponse(html, status_code=status, headers=HEADERS)
    if request.query_params.get("lang") in ("nb", "en"):
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/", secure=True,
                            samesite="lax")
    return response


def backends(request: Request) -> Backends:
    return request.app.state.backends


@router.get("/")
async def landing(request: Request):
    session = await session_of(request)
    if session is not None:
        return RedirectResponse("/worklist", status_code=303)
    return render(request, "landing.html", "site",
                  signed_out=request.query_params.get("signed_out") == "1")


@router.get("/sw.js")
async def service_worker() -> FileResponse:
    """The service worker, from the site's root so that its scope is the whole site."""
    return FileResponse(HERE / "static" / "sw.js", media_type="text/javascript",
                        headers={"Cache-Control": "no-cache"})


@router.get("/worklist")
async def worklist_page(request: Request, session: Session = Depends(signed_in)):
    at = now(request)
    answer = await backends(request).worklist(session.token)
    day = datetime.fromisoformat(answer["day"]).date() if "day" in answer else \
        at.astimezone(OSLO).date()
    visits = worklist.round_of(answer.get("tasks", ()), at, day)
    return render(request, "worklist.html", "worklist", session, visits=visits,
                  not_shown=answer.get("not_shown", 0), day=day)


@router.get("/patients/{patient_id}")
async def patient_page(patient_id: UUID, request: Request,
                       session: Session = Depends(signed_in)):
    return await show_patient(request, session, patient_id)


def _seen(request: Request, key: str) -> dict[str, str]:
    """Read your own write: the consistency token the last command's answer gave."""
    token = request.query_params.get(key, "")
    return {"X-Consistency-Token": token} if token and len(token) <= 500 else {}


async def show_patient(request: Request, session: Session, patient_id: UUID,
                       status: int = 200, errors: dict | None = None,
                       form: dict | None = None) -> HTMLResponse:
    """The patient at the door: CAVE first, today's doses, vital signs over time, open tasks,
    the care plan and the newest notes, with the visit's forms (each carrying the version it
    was read at)."""
    api, token = backends(request), session.token
    overview = await api.call(api.journal, "GET", f"/patients/{patient_id}", token,
                              headers=_seen(request, "j"))
    doses = await api.call(api.medication, "GET",
                           f"/patients/{patient_id}/medication-list/chart", token,
                           headers=_seen(request, "m"))
    vitals = await api.vital_signs(token, patient_id, headers=_seen(request, "j"))
    record = overview.body
    return render(request, "patient.html", _name(record["patient"]) or "patient", session,
                  status=status, p=record, patient_id=patient_id, doses=doses.body,
                  charts=chart.charts(vitals), lang_code=lang_of(request),
                  journal_version=overview.etag or "", medication_version=doses.etag or "",
                  read_at=visit.now_iso(), errors=errors or {}, form=form or {})


def _name(patient: dict) -> str:
    name = patient.get("name") or {}
    return " ".join(p for p in (name.get("given"), name.get("family")) if p)


def install_page_handlers(app: FastAPI) -> None:
    """Sign-in needed: to sign in and back; a refusal: a page that says as little as the API;
    an owner down: a page saying so (503)."""

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired):
        return RedirectResponse("/login?" + urlencode({"next": exc.return_to}),
                                status_code=303)

    @app.exception_handler(Expired)
    async def _expired(request: Request, exc: Expired):
        await sessions(request).close(request.cookies.get(SESSION_COOKIE))
        return RedirectResponse("/login?" + urlencode({"next": request.url.path}),
                                status_code=303)

    @app.exception_handler(SignInFailed)
    async def _failed(request: Request, exc: SignInFailed):
        return render(request, "message.html", "failed_title", status=400, key="failed")

    @app.exception_handler(visit.FormRefused)
    async def _refused(request: Request, exc: visit.FormRefused):
        return render(request, "message.html", "form_refused_title", await session_of(request),
                      status=403, key="form_refused")

    @app.exception_handler(Denied)
    async def _denied(request: Request, exc: Denied):
        parts = request.url.path.strip("/").split("/")
        emergency = f"/patients/{parts[1]}/emergency" if len(parts) == 2 \
            and parts[0] == "patients" else None
        return render(request, "message.html", "denied_title", await session_of(request),
                      status=403, key="denied", emergency=emergency)

    @app.exception_handler(Unavailable)
    async def _down(request: Request, exc: Unavailable):
        return render(request, "message.html", "unavailable_title", await session_of(request),
                      status=503, key="unavailable")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404 and not request.url.path.startswith("/api"):
            return render(request, "message.html", "not_found_title", status=404,
                          key="not_found")
        return HTMLResponse(str(exc.detail), status_code=exc.status_code, headers=HEADERS)
