"""What the token tests share: a development issuer in tmp_path, a validator that also trusts
its key under a non-dev kid (standing in for HelseID's JWKS), and tokens shaped like the
national issuers'. The fixtures are in ``conftest.py``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
from cryptography.hazmat.primitives import serialization

from libs.access import tokens as t
from libs.access.dev_issuer import DevIssuer
from libs.access.model import Role
from libs.config import Settings

PID = "15858512066"        # synthetic (month + 80)
CITIZEN_PID = "01839012345"
ORG, UNIT = "974600951", "974600978"
def now() -> int:
    """Seconds since the epoch, when the token is made: a time taken at import would let
    tokens expire before a slow run reaches their tests."""
    return int(time.time())


def as_prod_key(issuer: DevIssuer, kid: str = "prod-1") -> dict:
    """The dev issuer's public key under a non-dev kid: stands in for HelseID's JWKS."""
    return {"keys": [{**issuer.jwks()["keys"][0], "kid": kid}]}


def practitioner(issuer: DevIssuer, **extra) -> str:
    return issuer.mint_practitioner("9144889", ORG, UNIT, [Role.nurse, Role.prescriber],
                                    name="Kari Nordmann", pid=PID, extra=extra)


def real(issuer: DevIssuer, iss: str, claims: dict, kid: str = "prod-1") -> str:
    """A token shaped like the national issuer's (no ehr://claims/kind)."""
    at = now()
    return issuer.encode({"iss": iss, "aud": "ehr-api", "iat": at, "exp": at + 300, **claims},
                         kid=kid)


def private_key(settings: Settings):
    return serialization.load_pem_private_key(settings.dev_key_path.read_bytes(), None)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with_public_key(issuer: DevIssuer) -> str:
    """Algorithm confusion: HMAC over the token with the public key PEM as the secret."""
    pem = public_key_pem(issuer)
    head = _b64(json.dumps({"alg": "HS256", "kid": issuer.kid}).encode())
    body = _b64(json.dumps({"iss": issuer.issuer, "aud": "ehr-api", "iat": now(),
                            "exp": now() + 300, t.KIND: "device", "client_id": "x",
                            "scope": "ehr:device"}).encode())
    sig = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(sig)}"


def public_key_pem(issuer: DevIssuer) -> bytes:
    key = jwt.PyJWK(issuer.jwks()["keys"][0]).key
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)
