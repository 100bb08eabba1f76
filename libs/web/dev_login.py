"""The development issuer's sign-in, shaped like ID-porten's test environment: an OIDC
authorization endpoint with PKCE (S256 only) where you pick one of the synthetic test people
(or type a synthetic national id), and a token endpoint that swaps a code for an
ID-porten-shaped access token (``DevIssuer.mint_citizen``) and an ID token.

Never in production: the citizen service mounts it only outside production and only when no
issuer is configured (``EHR_CITIZEN_OIDC_ISSUER_URL``); ``DevIssuer.from_settings`` refuses in
production as well. Codes live in this process only (a development convenience): each is
single-use, bound to its client, redirect URI and PKCE challenge, and expires in 60 s.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from libs.access.dev_issuer import DevIssuer
from libs.kernel.identifiers import InvalidIdentifier, parse_person_id

CODE_TTL_S = 60
MAX_PENDING = 10_000
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43,128}$")
_STATE = re.compile(r"^[A-Za-z0-9_.~-]{8,200}$")


def s256(verifier: str) -> str:
    """The PKCE code challenge of a verifier (RFC 7636, S256)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class SyntheticPerson:
    name: str
    pid: str


@dataclass(frozen=True)
class _Request:
    client_id: str
    redirect_uri: str
    state: str
    nonce: str
    challenge: str
    lang: str


def _page(title: str, body: str, lang: str = "nb", status: int = 200) -> HTMLResponse:
    return HTMLResponse(f"""<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:1rem auto;padding:0 1rem;
color:#1a1a1a}}button,input{{font:inherit;padding:.6rem;margin:.2rem 0;min-height:44px}}
button{{background:#0b4f8a;color:#fff;border:0;border-radius:4px;width:100%;text-align:left}}
button:focus,input:focus{{outline:3px solid #f0a500}}ul{{list-style:none;padding:0}}
label{{display:block;margin-top:1rem}}</style></head>
<body><main><h1>{title}</h1>{body}</main></body></html>""", status_code=status,
                        headers={"Cache-Control": "no-store",
                                 "Content-Security-Policy": "default-src 'none'; "
                                 "style-src 'unsafe-inline'; form-action 'self' *"})


def dev_login_router(issuer: DevIssuer, clients: Mapping[str, Sequence[str]],
                     people: Sequence[SyntheticPerson]) -> APIRouter:
    """``GET /authorize`` (the picker), ``POST /authorize`` (a person picked), ``POST /token``
    and ``GET /.well-known/openid-configuration``. ``clients``: client id -> its registered
    redirect URIs (an unregistered one is refused with a page, never redirected to)."""
    router = APIRouter(tags=["development"], include_in_schema=False)
    pending: OrderedDict[str, tuple[float, _Request]] = OrderedDict()
    codes: OrderedDict[str, tuple[float, _Request, str]] = OrderedDict()

    def _keep(store: OrderedDict, key: str, value) -> None:
        store[key] = value
        while len(store) > MAX_PENDING:
            store.popitem(last=False)

    def _refuse(message: str) -> HTMLResponse:
        return _page("Innlogging avvist / Sign-in refused",
                     f"<p role=\"alert\">{html.escape(message)}</p>", status=400)

    @router.get("/.well-known/openid-configuration")
    def discovery() -> dict:
        return {"issuer": issuer.issuer, "authorization_endpoint": "authorize",
                "token_endpoint": "token", "code_challenge_methods_supported": ["S256"],
                "response_types_supported": ["code"], "acr_values_supported":
                ["idporten-loa-high"], "id_token_signing_alg_values_supported": ["ES256"]}

    @router.get("/authorize")
    def authorize(client_id: Annotated[str, Query(max_length=200)],
                  redirect_uri: Annotated[str, Query(max_length=2000)],
                  response_type: Annotated[str, Query(max_length=20)],
                  state: Annotated[str, Query(max_length=200)],
                  code_challenge: Annotated[str, Query(max_length=200)],
                  code_challenge_method: Annotated[str, Query(max_length=10)],
                  nonce: Annotated[str, Query(max_length=200)] = "",
                  scope: Annotated[str, Query(max_length=500)] = "openid",
                  ui_locales: Annotated[str, Query(max_length=20)] = "nb") -> HTMLResponse:
        if redirect_uri not in clients.get(client_id, ()):
            return _refuse("Ukjent klient eller redirect_uri. / Unknown client or redirect URI.")
        if response_type != "code" or code_challenge_method != "S256" \
                or not _CHALLENGE.fullmatch(code_challenge) or not _STATE.fullmatch(state) \
                or "openid" not in scope.split():
            return _refuse("Forespørselen må bruke code, openid og PKCE (S256). / The request "
                           "must use response_type=code, scope openid and PKCE (S256).")
        rid = secrets.token_urlsafe(24)
        lang = "en" if ui_locales.startswith("en") else "nb"
        _keep(pending, rid, (time.monotonic() + 600, _Request(
            client_id, redirect_uri, state, nonce, code_challenge, lang)))
        en = lang == "en"
        buttons = "".join(
            f'<li><form method="post" action="authorize"><input type="hidden" name="request" '
            f'value="{rid}"><input type="hidden" name="pid" value="{html.escape(p.pid)}">'
            f'<button type="submit">{html.escape(p.name)} ({html.escape(p.pid)})</button>'
            f'</form></li>' for p in people)
        return _page("Velg testperson" if not en else "Choose a test person", f"""
<p>{"Development sign-in, shaped like ID-porten's test environment: only synthetic people."
    if en else "Utviklingsinnlogging som i ID-portens testmiljø: bare syntetiske personer."}</p>
<ul>{buttons}</ul>
<form method="post" action="authorize"><input type="hidden" name="request" value="{rid}">
<label for="pid">{"Synthetic national id (11 digits)" if en
                  else "Syntetisk fødselsnummer (11 siffer)"}</label>
<input id="pid" name="pid" inputmode="numeric" autocomplete="off" required
 pattern="[0-9]{{11}}" maxlength="11">
<button type="submit">{"Sign in" if en else "Logg inn"}</button></form>""", lang)

    @router.post("/authorize")
    def picked(request: Annotated[str, Form(max_length=100)],
               pid: Annotated[str, Form(max_length=20)]) -> Response:
        entry = pending.pop(request, None)
        if entry is None or entry[0] < time.monotonic():
            return _refuse("Innloggingen er utløpt; start på nytt. / The sign-in expired; "
                           "start again.")
        req = entry[1]
        try:
            person = parse_person_id(pid.strip(), allow_real=False)
        except InvalidIdentifier:
            return _refuse("Bare gyldige syntetiske fødselsnumre kan brukes. / Only valid "
                           "synthetic national ids can be used.")
        code = secrets.token_urlsafe(32)
        _keep(codes, code, (time.monotonic() + CODE_TTL_S, req, person.value))
        query = urlencode({"code": code, "state": req.state})
        return RedirectResponse(f"{req.redirect_uri}?{query}", status_code=303)

    @router.post("/token")
    def token(grant_type: Annotated[str, Form(max_length=50)],
              code: Annotated[str, Form(max_length=100)],
              redirect_uri: Annotated[str, Form(max_length=2000)],
              client_id: Annotated[str, Form(max_length=200)],
              code_verifier: Annotated[str, Form(min_length=43, max_length=128)]) -> JSONResponse:
        entry = codes.pop(code, None)   # single use, whatever happens next
        if grant_type != "authorization_code" or entry is None or entry[0] < time.monotonic():
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        _, req, pid = entry
        if (req.client_id, req.redirect_uri) != (client_id, redirect_uri) \
                or not secrets.compare_digest(s256(code_verifier), req.challenge):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        access = issuer.mint_citizen(pid)
        now = int(time.time())
        id_token = issuer.encode({"iss": issuer.issuer, "aud": client_id, "iat": now,
                                  "exp": now + 600, "sub": issuer.citizen_sub(pid),
                                  "nonce": req.nonce, "acr": "idporten-loa-high",
                                  "amr": ["dev"]})
        return JSONResponse({"access_token": access, "id_token": id_token,
                             "token_type": "Bearer", "expires_in": 3600},
                            headers={"Cache-Control": "no-store"})

    return router
