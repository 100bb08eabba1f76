"""The development issuer's sign-in, shaped like ID-porten's test environment: an OIDC
authorization endpoint with PKCE (S256 only) where you pick one of the synthetic test people
(or type a synthetic national id), and a token endpoint that swaps a code for an
ID-porten-shaped access token (``DevIssuer.mint_citizen``) and an ID token.

``dev_helseid_router`` is the same flow shaped like HelseID's test environment: the page offers
test clinicians (HPR number, organisation, unit, roles) and the token endpoint mints a
HelseID-shaped access token (``DevIssuer.mint_practitioner``); the clinician workspace mounts it.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from libs.access.dev_issuer import DevIssuer
from libs.kernel.identifiers import InvalidIdentifier, parse_person_id
from libs.web.routing import PathRouter, PrefixRouter

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
class TestClinician:
    """A synthetic clinician the HelseID-shaped picker offers (HPR number, organisation number,
    unit, roles)."""
    name: str
    title: str
    hpr: str
    org: str
    unit: str
    roles: tuple[str, ...]


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
                     people: Sequence[SyntheticPerson], prefix: str = "") -> APIRouter:
    """``GET /authorize`` (the picker), ``POST /authorize`` (a person picked), ``POST /token``
    and ``GET /.well-known/openid-configuration``, under ``prefix`` (the router's own: include
    it without one, ``libs/web/routing.py``). ``clients``: client id -> its registered
    redirect URIs (an unregistered one is refused with a page, never redirected to)."""

    def picker(rid: str, en: bool) -> tuple[str, str]:
        buttons = "".join(
            f'<li><form method="post" action="authorize"><input type="hidden" name="request" '
            f'value="{rid}"><input type="hidden" name="pid" value="{html.escape(p.pid)}">'
            f'<button type="submit">{html.escape(p.name)} ({html.escape(p.pid)})</button>'
            f'</form></li>' for p in people)
        return ("Velg testperson" if not en else "Choose a test person"), f"""
<p>{"Development sign-in, shaped like ID-porten's test environment: only synthetic people."
    if en else "Utviklingsinnlogging som i ID-portens testmiljø: bare syntetiske personer."}</p>
<ul>{buttons}</ul>
<form method="post" action="authorize"><input type="hidden" name="request" value="{rid}">
<label for="pid">{"Synthetic national id (11 digits)" if en
                  else "Syntetisk fødselsnummer (11 siffer)"}</label>
<input id="pid" name="pid" inputmode="numeric" autocomplete="off" required
 pattern="[0-9]{{11}}" maxlength="11">
<button type="submit">{"Sign in" if en else "Logg inn"}</button></form>"""

    def choose(pid: str, _clinician: str) -> str | None:
        try:
            return parse_person_id(pid.strip(), allow_real=False).value
        except InvalidIdentifier:
            return None

    def mint(pid: str) -> tuple[str, str, str]:
        return issuer.mint_citizen(pid), issuer.citizen_sub(pid), "idporten-loa-high"

    return _code_flow_router(issuer, clients, picker, choose, mint, "idporten-loa-high",
                             "Bare gyldige syntetiske fødselsnumre kan brukes. / Only valid "
                             "synthetic national ids can be used.", prefix)


def dev_helseid_router(issuer: DevIssuer, clients: Mapping[str, Sequence[str]],
                       clinicians: Sequence[TestClinician], prefix: str = "") -> APIRouter:
    """The same endpoints shaped like HelseID's test environment: pick a test clinician; the
    token is a HelseID-shaped practitioner token (security level 4)."""

    def picker(rid: str, en: bool) -> tuple[str, str]:
        buttons = "".join(
            f'<li><form method="post" action="authorize"><input type="hidden" name="request" '
            f'value="{rid}"><input type="hidden" name="clinician" value="{i}">'
            f'<button type="submit">{html.escape(c.name)}, {html.escape(c.title)} '
            f'(HPR {html.escape(c.hpr)})</button></form></li>'
            for i, c in enumerate(clinicians))
        return ("Velg testbehandler" if not en else "Choose a test clinician"), f"""
<p>{"Development sign-in, shaped like HelseID's test environment: only synthetic clinicians."
    if en else "Utviklingsinnlogging som i HelseIDs testmiljø: bare syntetisk helsepersonell."
    }</p><ul>{buttons}</ul>"""

    def choose(_pid: str, clinician: str) -> str | None:
        return clinician if clinician.isdigit() and int(clinician) < len(clinicians) else None

    def mint(key: str) -> tuple[str, str, str]:
        c = clinicians[int(key)]
        return (issuer.mint_practitioner(c.hpr, c.org, c.unit, c.roles, c.name),
                issuer.practitioner_sub(), "Level4")

    return _code_flow_router(issuer, clients, picker, choose, mint, "Level4",
                             "Velg en av testbehandlerne. / Pick one of the test clinicians.",
                             prefix)


def _code_flow_router(issuer: DevIssuer, clients: Mapping[str, Sequence[str]],
                      picker: Callable[[str, bool], tuple[str, str]],
                      choose: Callable[[str, str], str | None],
                      mint: Callable[[str], tuple[str, str, str]], acr: str,
                      bad_choice: str, prefix: str = "") -> APIRouter:
    """The authorization code flow with PKCE both pickers share: ``picker`` draws the page,
    ``choose`` turns the form into a subject key (None: refused), ``mint`` that key into
    (access token, the ID token's sub, its acr)."""
    router = PrefixRouter(prefix=prefix, tags=["development"], include_in_schema=False) \
        if prefix else PathRouter(tags=["development"], include_in_schema=False)
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
                "response_types_supported": ["code"], "acr_values_supported": [acr],
                "id_token_signing_alg_values_supported": ["ES256"]}

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
        title, body = picker(rid, lang == "en")
        return _page(title, body, lang)

    @router.post("/authorize")
    def picked(request: Annotated[str, Form(max_length=100)],
               pid: Annotated[str, Form(max_length=20)] = "",
               clinician: Annotated[str, Form(max_length=4)] = "") -> Response:
        entry = pending.pop(request, None)
        if entry is None or entry[0] < time.monotonic():
            return _refuse("Innloggingen er utløpt; start på nytt. / The sign-in expired; "
                           "start again.")
        req = entry[1]
        key = choose(pid, clinician)
        if key is None:
            return _refuse(bad_choice)
        code = secrets.token_urlsafe(32)
        _keep(codes, code, (time.monotonic() + CODE_TTL_S, req, key))
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
        _, req, key = entry
        if (req.client_id, req.redirect_uri) != (client_id, redirect_uri) \
                or not secrets.compare_digest(s256(code_verifier), req.challenge):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        access, sub, acr_value = mint(key)
        now = int(time.time())
        id_token = issuer.encode({"iss": issuer.issuer, "aud": client_id, "iat": now,
                                  "exp": now + 600, "sub": sub, "nonce": req.nonce,
                                  "acr": acr_value, "amr": ["dev"]})
        return JSONResponse({"access_token": access, "id_token": id_token,
                             "token_type": "Bearer", "expires_in": 3600},
                            headers={"Cache-Control": "no-store"})

    return router
