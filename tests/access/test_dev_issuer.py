"""The development issuer, its JWKS route and ``ehr token`` (DOMAIN.md §10). No network."""

from __future__ import annotations

import json
import stat

import httpx
import jwt
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from libs.access import tokens as t
from libs.access.dev_issuer import DevIssuer, dev_validator
from libs.web.dev_jwks import jwks_router
from libs.access.model import Device, Practitioner, Role, Sector, SectorOfficial
from libs.access.tokens import CitizenLogin, TokenConfigError
from cli.main import app
from libs.config import Settings, get_settings

PID = "15858512066"  # synthetic (month + 80)
ORG, UNIT = "974600951", "974600978"


def claims_of(raw: str) -> dict:
    return jwt.decode(raw, options={"verify_signature": False})


def test_key_is_created_once_with_mode_0600_and_reused(tmp_path):
    path = tmp_path / "a" / "b" / "key.pem"
    first = DevIssuer(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.kid.startswith("ehr-dev-") and len(first.kid) > len("ehr-dev-") + 8
    pem = path.read_bytes()
    second = DevIssuer(path)
    assert second.kid == first.kid and path.read_bytes() == pem
    assert second.jwks() == first.jwks()
    assert DevIssuer(tmp_path / "other.pem").kid != first.kid


def test_jwks_holds_only_the_public_key(tmp_path):
    jwks = DevIssuer(tmp_path / "key.pem").jwks()
    (key,) = jwks["keys"]
    assert "d" not in key and key["kty"] == "EC" and key["alg"] == "ES256"
    assert jwt.PyJWKSet.from_dict(jwks)[key["kid"]].algorithm_name == "ES256"


def test_a_key_file_that_is_not_an_ec_key_is_a_clear_error(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    path = tmp_path / "key.pem"
    path.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    with pytest.raises(TokenConfigError, match="EC private key"):
        DevIssuer(path)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(environment="dev", dev_key_path=tmp_path / "dev-issuer" / "key.pem",
                    dev_issuer="http://localhost:8000/dev", token_audience="ehr-test")


def test_tokens_carry_the_settings_issuer_audience_and_shapes(settings):
    issuer = DevIssuer.from_settings(settings)
    raw = issuer.mint_practitioner("9144889", ORG, UNIT, ["nurse"], name="Kari", ttl=600,
                                   security_level=3)
    c = claims_of(raw)
    assert jwt.get_unverified_header(raw)["kid"] == issuer.kid
    assert (c["iss"], c["aud"], c[t.KIND]) == ("http://localhost:8000/dev", "ehr-test",
                                              "practitioner")
    assert c["exp"] - c["iat"] == 600 and c[t.SECURITY_LEVEL] == "3"
    assert (c[t.HPR], c[t.ORG_PARENT], c[t.ORG_CHILD], c[t.ROLES]) == ("9144889", ORG, UNIT,
                                                                      ["nurse"])
    assert c[t.PID] == PID and PID not in c["sub"]
    citizen = claims_of(issuer.mint_citizen(PID))
    assert (citizen["pid"], citizen["acr"]) == (PID, "idporten-loa-high")
    assert citizen["sub"] == claims_of(issuer.mint_citizen(PID))["sub"]  # stable pairwise
    sector = claims_of(issuer.mint_sector(Sector.nav, "889640782"))
    assert sector["consumer"] == {"authority": "iso6523-actorid-upis", "ID": "0192:889640782"}
    assert sector["scope"] == "ehr:sector/nav"
    assert claims_of(issuer.mint_device("gw-1"))["scope"] == "ehr:device"


def test_dev_validator_trusts_the_dev_issuer(settings):
    issuer, v = DevIssuer.from_settings(settings), dev_validator(settings)
    assert isinstance(v.validate(issuer.mint_practitioner("1", ORG, roles=["nurse"])),
                      Practitioner)
    assert isinstance(v.validate(issuer.mint_citizen(PID)), CitizenLogin)
    assert isinstance(v.validate(issuer.mint_sector("ppt", ORG)), SectorOfficial)
    assert isinstance(v.validate(issuer.mint_device("gw")), Device)


def test_dev_validator_and_issuer_refuse_production(settings):
    prod = settings.model_copy(update={"environment": "production"})
    for make in (dev_validator, DevIssuer.from_settings):
        with pytest.raises(TokenConfigError, match="production"):
            make(prod)


async def test_jwks_route_publishes_the_key_set(tmp_path):
    issuer = DevIssuer(tmp_path / "key.pem")
    api = FastAPI()
    api.include_router(jwks_router(issuer))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api),
                                 base_url="http://test") as client:
        res = await client.get("/.well-known/jwks.json")
    assert res.status_code == 200 and res.json() == issuer.jwks()


# --- ehr token -------------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def cli_env(monkeypatch, tmp_path):
    monkeypatch.setenv("EHR_DEV_KEY_PATH", str(tmp_path / "cli" / "key.pem"))
    monkeypatch.setenv("EHR_ENVIRONMENT", "dev")
    get_settings.cache_clear()
    yield get_settings
    get_settings.cache_clear()


def ehr(*args: str):
    return runner.invoke(app, ["token", *args], catch_exceptions=False)


def test_cli_practitioner_token_validates(cli_env):
    res = ehr("practitioner", "--hpr", "9144889", "--org", ORG, "--unit", UNIT,
              "--role", "nurse", "--role", "prescriber", "--name", "Kari Nordmann")
    assert res.exit_code == 0, res.output
    token = res.stdout.strip()
    assert res.stdout == token + "\n" and res.stderr == ""
    who = dev_validator(cli_env()).validate(token)
    assert isinstance(who, Practitioner)
    assert (who.hpr, who.org_parent, who.unit) == ("9144889", ORG, UNIT)
    assert who.roles == {Role.nurse, Role.prescriber} and who.name == "Kari Nordmann"


def test_cli_citizen_proxy_sector_device_and_jwks(cli_env):
    v = dev_validator(cli_env())
    citizen = ehr("citizen", "--pid", PID)
    assert v.validate(citizen.stdout.strip()).pid == PID
    proxy = ehr("proxy", "--pid", PID)
    assert proxy.exit_code == 0 and "X-Acting-For" in proxy.stderr
    assert isinstance(v.validate(proxy.stdout.strip()), CitizenLogin)
    sector = v.validate(ehr("sector", "--sector", "school", "--org", "123456785").stdout.strip())
    assert (sector.sector, sector.org) == (Sector.school, "123456785")
    assert v.validate(ehr("device", "--client-id", "dispenser-42").stdout.strip()).client_id \
        == "dispenser-42"
    jwks = json.loads(ehr("jwks").stdout)
    assert jwks == DevIssuer.from_settings(cli_env()).jwks()


@pytest.mark.parametrize("args, words", [
    (["practitioner", "--hpr", "9144889", "--org", "974600952", "--role", "nurse"],
     "--org:"),
    (["practitioner", "--hpr", "9144889", "--org", ORG, "--unit", "12345", "--role", "nurse"],
     "--unit:"),
    (["practitioner", "--hpr", "91-44", "--org", ORG, "--role", "nurse"], "--hpr:"),
    (["citizen", "--pid", "15858512067"], "--pid:"),
    (["citizen", "--pid", "31129956715"], "--pid:"),
    (["sector", "--sector", "nav", "--org", "123456786"], "--org:"),
    # issue 12: the services refuse a token living longer than token_max_lifetime_s (1 h)
    (["practitioner", "--hpr", "9144889", "--org", ORG, "--role", "nurse", "--ttl", "3601"],
     "--ttl:"),
    (["device", "--client-id", "gw", "--ttl", "86400"], "--ttl:"),
])
def test_cli_bad_arguments_are_one_readable_line_and_exit_2(cli_env, args, words):
    res = ehr(*args)
    assert res.exit_code == 2 and res.stdout == ""
    assert words in res.stderr and "Traceback" not in res.output
    assert len(res.stderr.strip().splitlines()) == 1


def test_cli_refuses_in_production(cli_env, monkeypatch):
    monkeypatch.setenv("EHR_ENVIRONMENT", "production")
    get_settings.cache_clear()
    res = ehr("device", "--client-id", "x")
    assert res.exit_code == 2 and "production" in res.stderr and res.stdout == ""
