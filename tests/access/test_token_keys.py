"""Token validation's key sets (inline, file, URL, cached), production's refusals of the
development issuer, malformed claims of every kind, and the bounded memory of verified tokens.
No network."""

from __future__ import annotations

import json
import time

import jwt
import pytest

from libs.access import tokens as t
from libs.access.dev_issuer import DevIssuer, dev_validator
from libs.access.tokens import (TokenConfigError, TokenError, TokenValidator)
from libs.config import Settings
from tests.access.token_support import (
    CITIZEN_PID, ORG, PID, as_prod_key, practitioner, real,
)


# --- key sets and production -----------------------------------------------------------------

def test_jwks_from_settings_as_json_file_or_inline(settings, issuer, tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(issuer.jwks()))
    for source in (str(path), json.dumps(issuer.jwks())):
        v = TokenValidator(settings.model_copy(update={"jwks": source}))
        assert v.validate(issuer.mint_device("d-1")).client_id == "d-1"


@pytest.mark.parametrize("source", [None, "{not json", "/does/not/exist.json", '{"keys": []}'])
def test_missing_or_unreadable_jwks_refuses_to_start(settings, source):
    with pytest.raises(TokenConfigError):
        TokenValidator(settings.model_copy(update={"jwks": source}))


def test_jwks_url_uses_a_cached_client(settings, issuer, monkeypatch):
    calls = []

    def fetch(self):
        calls.append(self.uri)
        return as_prod_key(issuer)

    monkeypatch.setattr(jwt.PyJWKClient, "fetch_data", fetch)
    v = TokenValidator(settings.model_copy(update={"jwks": "https://idp.example/jwks"}))
    token = real(issuer, settings.device_issuer, {"client_id": "gw", "scope": "ehr:device"})
    assert v.validate(token).client_id == "gw" and v.validate(token).client_id == "gw"
    assert calls == ["https://idp.example/jwks"]


def test_production_refuses_to_start_with_a_dev_key(production, issuer, tmp_path):
    path = tmp_path / "jwks.json"
    mixed = {"keys": as_prod_key(issuer)["keys"] + issuer.jwks()["keys"]}
    path.write_text(json.dumps(mixed))
    for kwargs in ({"keys": mixed}, {"keys": json.dumps(mixed)}, {"keys": str(path)}):
        with pytest.raises(TokenConfigError, match="development key"):
            TokenValidator(production, **kwargs)
    with pytest.raises(TokenConfigError):
        dev_validator(production)
    with pytest.raises(TokenConfigError):
        DevIssuer.from_settings(production)
    with pytest.raises(TokenConfigError, match="https"):
        TokenValidator(production, keys="http://localhost/.well-known/jwks.json")


def test_production_refuses_dev_tokens(production, issuer, monkeypatch):
    v = TokenValidator(production, keys=as_prod_key(issuer))
    ok = real(issuer, production.helseid_issuer, {"sub": "s", t.PID: PID, t.SECURITY_LEVEL: "4",
                                                  t.ORG_PARENT: ORG})
    assert v.validate(ok).org_parent == ORG
    dev_iss = real(issuer, issuer.issuer, {t.KIND: "device", "client_id": "x",
                                           "scope": "ehr:device"})
    for raw in (dev_iss, issuer.mint_device("x")):   # dev iss with a prod kid, dev kid
        with pytest.raises(TokenError, match="development issuer") as exc:
            v.validate(raw)
        assert exc.value.status == 401
    # a dev kid served later by a JWKS URL is refused too
    monkeypatch.setattr(jwt.PyJWKClient, "fetch_data", lambda self: issuer.jwks())
    url = TokenValidator(production, keys="https://idp.example/jwks")
    with pytest.raises(TokenError, match="development issuer"):
        url.validate(issuer.mint_device("x"))


def test_production_refuses_synthetic_citizen_ids(production, issuer):
    v = TokenValidator(production, keys=as_prod_key(issuer))
    raw = real(issuer, production.idporten_issuer, {"sub": "s", "pid": CITIZEN_PID,
                                                    "acr": "idporten-loa-high"})
    with pytest.raises(TokenError) as exc:
        v.validate(raw)
    assert exc.value.status == 401 and CITIZEN_PID not in exc.value.message


WEIRD = [None, 0, 1, True, "", " ", [], {}, ["nurse", 1], {"ID": None}, "x" * 500, 1.5]
SHAPES = {
    "practitioner": lambda i, **x: practitioner(i, **x),
    "citizen": lambda i, **x: i.mint_citizen(CITIZEN_PID, extra=x),
    "sector": lambda i, **x: i.mint_sector("nav", "123456785", extra=x),
    "device": lambda i, **x: i.mint_device("gw", extra=x),
}
CLAIMS = ["sub", "iss", "aud", "nbf", t.KIND, t.PID, t.SECURITY_LEVEL, t.HPR, t.ORG_PARENT,
          t.ORG_CHILD, t.ROLES, "name", "pid", "acr", "scope", "consumer", "client_id"]


@pytest.mark.parametrize("kind", SHAPES)
@pytest.mark.parametrize("claim", CLAIMS)
def test_malformed_claims_are_refused_cleanly(validator, issuer, kind, claim):
    """Whatever a claim holds, the answer is a subject or a TokenError, never a crash."""
    for value in WEIRD:
        try:
            raw = SHAPES[kind](issuer, **{claim: value})
        except TypeError:  # PyJWT refuses to encode a non-numeric nbf: nothing to validate
            continue
        try:
            validator.validate(raw)
        except TokenError as exc:
            assert exc.status in (401, 403)


def test_a_verified_token_is_remembered_for_a_bounded_time_only(validator, issuer, monkeypatch,
                                                              tmp_path):
    """The signature is checked once per token for at most CACHE_S: a key removed from the
    trusted set stops working within that bound, and a refused token is never remembered."""
    token = practitioner(issuer)
    who = validator.validate(token)
    trusted = validator.keys
    other = DevIssuer.from_settings(Settings(environment="test",
                                             dev_key_path=tmp_path / "other.pem"))
    validator.keys = jwt.PyJWKSet.from_dict(other.jwks())   # the key is withdrawn
    assert validator.validate(token) == who    # remembered
    with pytest.raises(TokenError):
        validator.validate(practitioner(issuer, jti="another"))  # never seen: checked
    later = time.time() + t.CACHE_S + 1
    monkeypatch.setattr(t.time, "time", lambda: later)
    with pytest.raises(TokenError):
        validator.validate(token)              # the bound has passed: checked again, refused
    validator.keys = trusted
