"""The HelseID-shaped development sign-in and the workspace's guards on it, without a server:
the clinician picker mints a practitioner token for the clinician picked, only a registered
redirect URI, only a code with its verifier, only a listed clinician; a path of this site only
after sign-in; production never mounts the development issuer."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx
import jwt
import pytest
from fastapi import FastAPI

from libs.access.dev_issuer import DevIssuer, dev_validator
from libs.access.model import Practitioner
from libs.access.tokens import TokenConfigError
from libs.config import Settings
from libs.web.dev_login import dev_helseid_router, s256
from services.workspace.app import TEST_CLINICIANS, create_app
from services.workspace.http.auth import local_path
from services.workspace.settings import WorkspaceSettings

CLIENT, BACK = "workspace", "http://localhost:8010/callback"
VERIFIER = "v" * 50


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(environment="test", dev_key_path=tmp_path / "key.pem")


@pytest.fixture
async def http(settings):
    app = FastAPI()
    app.include_router(dev_helseid_router(DevIssuer.from_settings(settings), {CLIENT: (BACK,)},
                                          TEST_CLINICIANS))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://issuer") as client:
        yield client


def params(**more) -> dict:
    return {"client_id": CLIENT, "redirect_uri": BACK, "response_type": "code",
            "scope": "openid", "state": "state-123456", "nonce": "n-1",
            "code_challenge": s256(VERIFIER), "code_challenge_method": "S256"} | more


async def _picked(http: httpx.AsyncClient, clinician: str) -> httpx.Response:
    r = await http.get("/authorize", params=params())
    assert r.status_code == 200 and "Nina Sykepleier" in r.text and "HPR 9144889" in r.text
    rid = r.text.split('name="request" value="')[1].split('"')[0]
    return await http.post("/authorize", data={"request": rid, "clinician": clinician})


async def test_the_picked_clinician_gets_a_helseid_shaped_practitioner_token(http, settings):
    r = await _picked(http, "0")
    assert r.status_code == 303
    code = parse_qs(urlparse(r.headers["location"]).query)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": BACK,
            "client_id": CLIENT, "code_verifier": VERIFIER}
    r = await http.post("/token", data=form)
    assert r.status_code == 200, r.text
    who = dev_validator(settings).validate(r.json()["access_token"])
    assert isinstance(who, Practitioner)
    assert (who.hpr, who.unit, who.name) == ("9144889", "974600978", "Nina Sykepleier")
    id_token = jwt.decode(r.json()["id_token"], options={"verify_signature": False})
    assert (id_token["aud"], id_token["nonce"], id_token["acr"]) == (CLIENT, "n-1", "Level4")
    r = await http.post("/token", data=form)          # a code is used once
    assert r.status_code == 400


async def test_a_wrong_verifier_an_unknown_clinician_or_redirect_is_refused(http):
    r = await _picked(http, "0")
    code = parse_qs(urlparse(r.headers["location"]).query)["code"][0]
    r = await http.post("/token", data={"grant_type": "authorization_code", "code": code,
                                        "redirect_uri": BACK, "client_id": CLIENT,
                                        "code_verifier": "w" * 50})
    assert r.status_code == 400
    for clinician in ("9", "x", ""):
        r = await _picked(http, clinician)
        assert r.status_code == 400 and "testbehandlerne" in r.text
    r = await http.get("/authorize", params=params(redirect_uri="https://evil.example/cb"))
    assert r.status_code == 400 and "location" not in r.headers


@pytest.mark.parametrize("path", ["https://evil.example", "//evil.example", "/\\evil",
                                  None, "", "/" + "a" * 400])
def test_after_sign_in_only_a_path_of_this_site(path):
    assert local_path(path) == "/worklist"
    assert local_path("/patients/1") == "/patients/1"


def test_production_without_helseid_refuses_to_start(tmp_path):
    with pytest.raises(TokenConfigError):
        create_app(WorkspaceSettings(environment="production", dev_key_path=tmp_path / "k"))
