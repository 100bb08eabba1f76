"""Bearer tokens -> subjects (DOMAIN.md §10, §11 req 7-8). Tokens come from a DevIssuer in a
tmp_path; "real" HelseID/ID-porten/Maskinporten-shaped tokens are signed with the same key under a
non-dev kid. No network."""

from __future__ import annotations

import base64
import json
import logging

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from libs.access import tokens as t
from libs.access.model import Device, Practitioner, Role, Sector, SectorOfficial
from libs.access.tokens import (CitizenLogin, TokenError, TokenValidator,
                                parse_authorization)
from tests.access.token_support import (
    CITIZEN_PID, ORG, PID, UNIT, _b64, hs256_with_public_key, now, practitioner, private_key, real,
)


# --- accepted --------------------------------------------------------------------------------

def test_practitioner_maps_helseid_claims(validator, issuer):
    who = validator.validate(practitioner(issuer))
    assert isinstance(who, Practitioner)
    assert (who.hpr, who.org_parent, who.org_child, who.unit) == ("9144889", ORG, UNIT, UNIT)
    assert who.roles == {Role.nurse, Role.prescriber} and who.security_level == 4
    assert who.name == "Kari Nordmann" and who.person_id and PID not in who.model_dump_json()


def test_citizen_is_a_login_whose_repr_masks_the_pid(validator, issuer):
    who = validator.validate(issuer.mint_citizen(CITIZEN_PID))
    assert isinstance(who, CitizenLogin)
    assert (who.pid, who.acr) == (CITIZEN_PID, "idporten-loa-high") and who.sub
    assert CITIZEN_PID not in repr(who) and CITIZEN_PID not in str(who)


def test_sector_official_and_device(validator, issuer):
    off = validator.validate(issuer.mint_sector("school", "123456785", person_id="p-1"))
    assert off == SectorOfficial(person_id="p-1", sector=Sector.school, org="123456785")
    assert validator.validate(issuer.mint_device("dispenser-42")) == Device(
        client_id="dispenser-42")


@pytest.mark.parametrize("iss_name, claims, expected", [
    ("helseid_issuer", {"sub": "pw-1", t.PID: PID, t.SECURITY_LEVEL: "4", t.HPR: "9144889",
                        t.ORG_PARENT: ORG}, Practitioner),
    ("idporten_issuer", {"sub": "pw-2", "pid": CITIZEN_PID, "acr": "idporten-loa-high"},
     CitizenLogin),
    ("sector_issuer", {"sub": "p-3", "scope": "ehr:sector/nav other:scope",
                       "consumer": {"authority": "iso6523-actorid-upis",
                                    "ID": "0192:889640782"}}, SectorOfficial),
    ("device_issuer", {"client_id": "gw-1", "scope": "ehr:device"}, Device),
])
def test_national_issuer_tokens_work_without_the_kind_claim(validator, issuer, settings,
                                                            iss_name, claims, expected):
    assert isinstance(validator.validate(real(issuer, getattr(settings, iss_name), claims)),
                      expected)


def test_client_name_does_not_change_the_result(validator, issuer):
    plain = validator.validate(practitioner(issuer, **{t.CLIENT_NAME: None}))
    for name in ("ehr dev issuer", "admin", "emergency-override"):
        assert validator.validate(practitioner(issuer, **{t.CLIENT_NAME: name})) == plain
    with pytest.raises(TokenError) as exc:
        validator.validate(practitioner(issuer, **{t.SECURITY_LEVEL: "3",
                                                   t.CLIENT_NAME: "superuser"}))
    assert exc.value.status == 403


def test_security_level_and_acr_are_configurable(settings, issuer):
    lax = TokenValidator(settings.model_copy(update={
        "min_security_level": 3, "citizen_acr": ("idporten-loa-high",
                                                 "idporten-loa-substantial")}),
        keys=issuer.jwks())
    assert lax.validate(practitioner(issuer, **{t.SECURITY_LEVEL: "3"})).security_level == 3
    login = lax.validate(issuer.mint_citizen(CITIZEN_PID, acr="idporten-loa-substantial"))
    assert login.acr == "idporten-loa-substantial"


# --- refused ---------------------------------------------------------------------------------

def _with_rsa_key(issuer, settings, other):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode({"iss": issuer.issuer, "aud": "ehr-api", "iat": now(), "exp": now() + 60},
                      key, algorithm="RS256", headers={"kid": issuer.kid})


def _no_kid(issuer, settings, other):
    return jwt.encode({"iss": issuer.issuer, "aud": "ehr-api", "iat": now(), "exp": now() + 60},
                      private_key(settings), algorithm="ES256")


def _tampered(issuer, settings, other):
    head, body, sig = practitioner(issuer).split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims[t.SECURITY_LEVEL] = "4"
    claims[t.ROLES] = ["unit_leader"]
    return ".".join((head, _b64(json.dumps(claims).encode()), sig))


REFUSALS = [
    # name, token factory (issuer, settings, other issuer), status, words in the message
    ("empty", lambda i, s, o: "", 401, "required"),
    ("not a jwt", lambda i, s, o: "not.a.jwt", 401, "well-formed"),
    ("expired", lambda i, s, o: practitioner(i, iat=now() - 7200, nbf=now() - 7200,
                                             exp=now() - 3600), 401, "expired"),
    ("not yet valid", lambda i, s, o: practitioner(i, nbf=now() + 3600), 401, "not valid yet"),
    ("no exp", lambda i, s, o: practitioner(i, exp=None), 401, "exp"),
    ("wrong audience", lambda i, s, o: practitioner(i, aud="another-api"), 401, "audience"),
    ("wrong issuer", lambda i, s, o: practitioner(i, iss="https://evil.example"), 401, "issuer"),
    ("national issuer, dev key", lambda i, s, o: practitioner(i, iss=s.helseid_issuer), 401,
     "does not match"),
    ("dev issuer, national key", lambda i, s, o: real(i, i.issuer, {t.KIND: "device",
     "client_id": "x", "scope": "ehr:device"}), 401, "does not match"),
    ("unknown key", lambda i, s, o: practitioner(o), 401, "key this service does not trust"),
    ("bad signature", lambda i, s, o: o.encode(json.loads(base64.urlsafe_b64decode(
        practitioner(i).split(".")[1] + "==")), kid=i.kid), 401, "signature"),
    ("tampered claims", _tampered, 401, "signature"),
    ("alg none", lambda i, s, o: jwt.encode({"iss": i.issuer, "aud": "ehr-api", "exp": now() + 60},
                                            None, algorithm="none", headers={"kid": i.kid}),
     401, "algorithm"),
    ("HS256 with the public key", lambda i, s, o: hs256_with_public_key(i), 401, "algorithm"),
    ("RS256 header on an EC kid", _with_rsa_key, 401, "signature"),
    ("no kid", _no_kid, 401, "kid"),
    ("security level 3", lambda i, s, o: practitioner(i, **{t.SECURITY_LEVEL: "3"}), 403,
     "security level 3"),
    ("no security level", lambda i, s, o: practitioner(i, **{t.SECURITY_LEVEL: None}), 403,
     "security level"),
    ("no pid", lambda i, s, o: practitioner(i, **{t.PID: None}), 403, "pid"),
    ("no orgnr_parent", lambda i, s, o: practitioner(i, **{t.ORG_PARENT: None}), 403,
     "orgnr_parent"),
    ("no sub", lambda i, s, o: practitioner(i, sub=None), 403, "sub"),
    ("unknown role", lambda i, s, o: practitioner(i, **{t.ROLES: ["nurse", "god"]}), 403,
     "role"),
    ("citizen acr substantial", lambda i, s, o: i.mint_citizen(
        CITIZEN_PID, acr="idporten-loa-substantial"), 403, "assurance level"),
    ("citizen without acr", lambda i, s, o: i.mint_citizen(CITIZEN_PID, extra={"acr": None}),
     403, "assurance level"),
    ("citizen pid bad check digit", lambda i, s, o: i.mint_citizen(CITIZEN_PID[:-1] + "9"),
     401, "pid"),
    # issue 12: limits and strict claim types, each refused with 401 and a readable message
    ("lifetime 10^30 s", lambda i, s, o: practitioner(i, exp=10**30), 401, "lives longer"),
    ("issued 2 h before a far expiry", lambda i, s, o: practitioner(
        i, iat=now() - 3600, nbf=now() - 3600, exp=now() + 3000), 401, "lives longer"),
    ("citizen beyond the lifetime", lambda i, s, o: i.mint_citizen(CITIZEN_PID, ttl=7200),
     401, "lives longer"),
    ("exp as a string", lambda i, s, o: practitioner(i, exp=str(now() + 600)), 401,
     "exp claim must be an integer"),
    ("iat as a string", lambda i, s, o: practitioner(i, iat=str(now())), 401,
     "iat claim must be an integer"),
    ("nbf as a boolean", lambda i, s, o: practitioner(i, nbf=True), 401,
     "nbf claim must be an integer"),
    ("security level 4 and a newline", lambda i, s, o: practitioner(
        i, **{t.SECURITY_LEVEL: "4\n"}), 401, "security_level must be one digit"),
    ("security level as a boolean", lambda i, s, o: practitioner(
        i, **{t.SECURITY_LEVEL: True}), 401, "security_level must be one digit"),
    ("token larger than the cap", lambda i, s, o: practitioner(i, padding="x" * 9000), 401,
     "larger than"),
    ("hpr with letters", lambda i, s, o: practitioner(i, **{t.HPR: "HPR-9144889"}), 401,
     "hpr_number"),
    ("hpr of ten digits", lambda i, s, o: practitioner(i, **{t.HPR: "1234567890"}), 401,
     "hpr_number"),
    ("orgnr_parent failing mod 11", lambda i, s, o: practitioner(
        i, **{t.ORG_PARENT: "974600952"}), 401, "orgnr_parent"),
    ("orgnr_child not a number", lambda i, s, o: practitioner(i, **{t.ORG_CHILD: "unit-1"}),
     401, "orgnr_child"),
    ("practitioner pid bad check digit", lambda i, s, o: practitioner(
        i, **{t.PID: PID[:-1] + "0"}), 401, "pid"),
    ("sector consumer failing mod 11", lambda i, s, o: i.mint_sector("nav", "123456786"), 401,
     "consumer.ID"),
    ("unknown sector", lambda i, s, o: i.mint_sector("school", "123456785",
                                                     extra={"scope": "ehr:sector/bank"}),
     403, "sector"),
    ("two sectors", lambda i, s, o: i.mint_sector("school", "123456785", extra={
        "scope": "ehr:sector/school ehr:sector/nav"}), 403, "exactly one"),
    ("foreign consumer", lambda i, s, o: i.mint_sector("nav", "123456785", extra={
        "consumer": {"authority": "iso6523-actorid-upis", "ID": "0007:5567321707"}}), 403,
     "consumer"),
    ("device without scope", lambda i, s, o: i.mint_device("gw", extra={"scope": "openid"}),
     403, "ehr:device"),
    ("dev token without kind", lambda i, s, o: i.mint_device("gw", extra={t.KIND: None}), 403,
     "kind"),
    ("maskinporten without ehr scope", lambda i, s, o: real(i, s.device_issuer, {
        "client_id": "x", "scope": "openid"}), 403, "scope"),
]


@pytest.mark.parametrize("make, status, words", [r[1:] for r in REFUSALS],
                         ids=[r[0] for r in REFUSALS])
def test_refusals(validator, issuer, settings, other, caplog, make, status, words):
    raw = make(issuer, settings, other)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TokenError) as exc:
        validator.validate(raw)
    err = exc.value
    assert err.status == status and words in err.message, err.message
    assert str(err) == err.message and err.message.count(". ") == 0
    assert err.headers["WWW-Authenticate"].startswith("Bearer error=")
    for secret in (PID, PID[:-1] + "0", CITIZEN_PID, CITIZEN_PID[:-1] + "9", raw or "\0"):
        assert secret not in err.message and secret not in caplog.text
    # no chained library exception carries claim values into a traceback
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)


@pytest.mark.parametrize("header, token", [("Bearer abc.def.ghi", "abc.def.ghi"),
                                           ("bearer   abc ", "abc")])
def test_parse_authorization(header, token):
    assert parse_authorization(header) == token


def test_identifiers_in_a_token_are_canonical(validator, issuer):
    """Issue 12: "07654321" and 7654321 are the same HPR number as "7654321"; a security level
    may come as the integer 4 or the text "4" (HelseID's form)."""
    for hpr in ("07654321", 7654321, "0007654321"):
        who = validator.validate(practitioner(issuer, **{t.HPR: hpr}))
        assert who.hpr == "7654321" and who.actor_id == "7654321"
    assert validator.validate(practitioner(issuer, **{t.SECURITY_LEVEL: 4})).security_level == 4


def test_a_shorter_maximum_lifetime_is_configurable(settings, issuer):
    short = TokenValidator(settings.model_copy(update={"token_max_lifetime_s": 300}),
                           keys=issuer.jwks())
    assert short.validate(issuer.mint_device("gw", ttl=300)).client_id == "gw"
    with pytest.raises(TokenError, match="300 seconds") as exc:
        short.validate(issuer.mint_device("gw", ttl=301))
    assert exc.value.status == 401


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer  ", "Basic dXNlcg==", "abc",
                                    "Bearer" + " " * 100 + "abc", "Bearer abc" + " " * 100])
def test_parse_authorization_refuses(header):
    with pytest.raises(TokenError) as exc:
        parse_authorization(header)
    assert exc.value.status == 401
