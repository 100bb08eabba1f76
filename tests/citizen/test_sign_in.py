"""The development issuer's sign-in (authorization code + PKCE) and the portal's guards on it,
without a server: only a registered redirect URI, S256 only, a code used once and only with its
verifier; the portal never redirects off-site; production never uses the development issuer."""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qs, urlparse

import httpx
import jwt
import pytest
from fastapi import FastAPI

from libs.access.dev_issuer import DevIssuer
from libs.access.tokens import TokenConfigError
from libs.config import Settings
from libs.kernel.identifiers import synthetic_number
from libs.web.dev_login import SyntheticPerson, dev_login_router, s256
from services.citizen.app import create_app
from services.citizen.http.auth import safe_return
from services.citizen.settings import CitizenSettings

CLIENT, BACK = "portal", "http://localhost:8006/callback"
KARI = synthetic_number(date(1941, 3, 14))


@pytest.fixture
def issuer(tmp_path) -> DevIssuer:
    return DevIssuer(tmp_path / "key.pem")


@pytest.fixture
async def http(issuer):
    app = FastAPI()
    app.include_router(dev_login_router(issuer, {CLIENT: (BACK,)},
                                        [SyntheticPerson("Kari Nordmann", KARI)]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://issuer") as client:
        yield client


def params(**more) -> dict:
    return {"client_id": CLIENT, "redirect_uri": BACK, "response_type": "code",
            "scope": "openid", "state": "state-123456", "nonce": "n-1",
            "code_challenge": s256("v" * 50), "code_challenge_method": "S256"} | more


async def _code(http: httpx.AsyncClient, pid: str = KARI) -> str:
    r = await http.get("/authorize", params=params())
    assert r.status_code == 200 and "Kari Nordmann" in r.text
    rid = r.text.split('name="request" value="')[1].split('"')[0]
    r = await http.post("/authorize", data={"request": rid, "pid": pid})
    assert r.status_code == 303, r.text
    back = urlparse(r.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == BACK
    query = parse_qs(back.query)
    assert query["state"] == ["state-123456"]
    return query["code"][0]


def token_form(code: str, verifier: str = "v" * 50) -> dict:
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": BACK,
            "client_id": CLIENT, "code_verifier": verifier}


async def test_a_picked_person_gets_a_citizen_token_once(http, issuer):
    code = await _code(http)
    r = await http.post("/token", data=token_form(code))
    assert r.status_code == 200, r.text
    body = r.json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["pid"] == KARI and claims["acr"] == "idporten-loa-high"
    id_token = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert id_token["nonce"] == "n-1" and id_token["aud"] == CLIENT
    assert id_token["sub"] == claims["sub"] and "pid" not in id_token
    r = await http.post("/token", data=token_form(code))       # replayed
    assert r.status_code == 400 and r.json() == {"error": "invalid_grant"}


async def test_a_code_needs_its_own_verifier(http):
    code = await _code(http)
    r = await http.post("/token", data=token_form(code, "w" * 50))
    assert r.status_code == 400
    r = await http.post("/token", data=token_form(code))       # spent by the failed attempt
    assert r.status_code == 400


async def test_bad_authorization_requests_are_refused_without_a_redirect(http):
    for bad in (params(redirect_uri="https://evil.example/cb"), params(client_id="other"),
                params(code_challenge_method="plain"), params(response_type="token"),
                params(code_challenge="short"), params(scope="profile")):
        r = await http.get("/authorize", params=bad)
        assert r.status_code == 400 and "location" not in r.headers
    r = await http.get("/authorize", params=params())
    rid = r.text.split('name="request" value="')[1].split('"')[0]
    r = await http.post("/authorize", data={"request": rid, "pid": "01010112345"})
    assert r.status_code == 400 and "syntetiske" in r.text      # real-looking: refused
    r = await http.post("/authorize", data={"request": "made-up", "pid": KARI})
    assert r.status_code == 400


def test_the_portal_returns_only_to_its_own_pages():
    assert safe_return("/medicines") == "/medicines"
    for bad in ("https://evil.example", "//evil.example/x", "/\\evil", "", None, "x" * 400):
        assert safe_return(bad) == "/record"


async def test_production_needs_a_configured_issuer_and_never_mounts_the_dev_one(tmp_path):
    prod = Settings(environment="production", dev_key_path=tmp_path / "k.pem",
                    jwks='{"keys": []}')
    with pytest.raises(TokenConfigError, match="ID-porten"):
        create_app(prod)
    configured = create_app(CitizenSettings.model_validate(
        prod.model_dump() | {"citizen_oidc_issuer_url": "https://login.idporten.no"}))
    dev = create_app(Settings(environment="dev", dev_key_path=tmp_path / "k.pem"))
    found = "/dev-issuer/.well-known/openid-configuration"
    for app, status in ((configured, 404), (dev, 200)):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://citizen") as client:
            assert (await client.get(found)).status_code == status
