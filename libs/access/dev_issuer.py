"""A development token issuer: signs HelseID-, ID-porten- and Maskinporten-shaped tokens with a
local EC P-256 key (DOMAIN.md §10, DESIGN.md §4). Never used in production: ``from_settings`` and
``dev_validator`` refuse there, and the production validator refuses ``ehr-dev-`` keys.

    issuer = DevIssuer.from_settings(get_settings())
    token = issuer.mint_practitioner("9144889", "974600951", roles=["nurse"])
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from libs.access import tokens as t
from libs.access.model import Role, Sector
from libs.config import Settings

DEFAULT_TTL_S = 3600
DEFAULT_PRACTITIONER_PID = "15858512066"  # synthetic (Tenor, month + 80), born 15.05.1985


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()




def _load_or_create(path: Path) -> ec.EllipticCurvePrivateKey:
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        try:  # O_EXCL: two processes starting at once keep one key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
            return key
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise t.TokenConfigError(f"{path} does not hold an EC private key; delete it to let "
                                 "the development issuer create a new one")
    return key


class DevIssuer:
    """Loads (or creates once, mode 0600) its key at ``key_path`` and mints compact JWTs."""

    def __init__(self, key_path: Path, *, issuer: str = "http://localhost/ehr-dev-issuer",
                 audience: str = "ehr-api") -> None:
        self.key_path = Path(key_path)
        self.issuer, self.audience = issuer, audience
        self._key = _load_or_create(self.key_path)
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self._key.public_key()))
        thumb = json.dumps({k: public[k] for k in ("crv", "kty", "x", "y")},
                           separators=(",", ":"), sort_keys=True)  # RFC 7638
        self.kid = t.DEV_KID_PREFIX + _b64(hashlib.sha256(thumb.encode()).digest())[:16]
        self._public = {**public, "kid": self.kid, "use": "sig", "alg": "ES256"}
        self._salt = self._key.private_numbers().private_value.to_bytes(32, "big")

    def _pairwise(self, *parts: str) -> str:
        """A stable pseudonymous ``sub`` (like HelseID's and ID-porten's pairwise sub), keyed
        with the private key so it cannot be reversed to the pid by trying numbers."""
        mac = hmac.new(self._salt, "|".join(parts).encode(), hashlib.sha256).digest()
        return _b64(mac)[:32]

    @classmethod
    def from_settings(cls, settings: Settings) -> DevIssuer:
        if settings.environment == "production":
            raise t.TokenConfigError("the development issuer is disabled in production")
        return cls(settings.dev_key_path, issuer=settings.dev_issuer,
                   audience=settings.token_audience)

    def jwks(self) -> dict:
        """The public key set (no private parts)."""
        return {"keys": [dict(self._public)]}

    def encode(self, payload: Mapping[str, Any], *, kid: str | None = None) -> str:
        """Sign ``payload`` as it is (ES256); ``kid`` overrides the key id (tests only)."""
        return jwt.encode(dict(payload), self._key, algorithm="ES256",
                          headers={"kid": kid or self.kid, "typ": "JWT"})

    def mint(self, kind: str, claims: Mapping[str, Any], ttl: int = DEFAULT_TTL_S,
             extra: Mapping[str, Any] | None = None) -> str:
        """A token of ``kind`` with the standard claims; ``extra`` is merged last, and a value of
        None there removes the claim (to test refusals)."""
        now = int(time.time())
        payload = {"iss": self.issuer, "aud": self.audience, "iat": now, "nbf": now,
                   "exp": now + ttl, "jti": str(uuid.uuid4()), t.KIND: kind, **claims,
                   **(extra or {})}
        return self.encode({k: v for k, v in payload.items() if v is not None})

    def mint_practitioner(self, hpr: str | None, org_parent: str, org_child: str | None = None,
                          roles: Iterable[Role | str] = (), name: str | None = None,
                          security_level: int = 4, ttl: int = DEFAULT_TTL_S,
                          pid: str = DEFAULT_PRACTITIONER_PID,
                          extra: Mapping[str, Any] | None = None) -> str:
        claims = {"sub": self._pairwise("helseid", pid), t.PID: pid, "name": name,
                  t.SECURITY_LEVEL: str(security_level), t.HPR: hpr, t.ORG_PARENT: org_parent,
                  t.ORG_CHILD: org_child, t.ROLES: [str(r) for r in roles],
                  t.CLIENT_NAME: "ehr dev issuer"}
        return self.mint("practitioner", claims, ttl, extra)

    def practitioner_sub(self, pid: str = DEFAULT_PRACTITIONER_PID) -> str:
        """The pairwise ``sub`` a practitioner's tokens carry (for the sign-in's ID token)."""
        return self._pairwise("helseid", pid)

    def citizen_sub(self, pid: str) -> str:
        """The pairwise ``sub`` a citizen's tokens carry (for the sign-in's ID token)."""
        return self._pairwise("idporten", pid)

    def mint_citizen(self, pid: str, acr: str = "idporten-loa-high", ttl: int = DEFAULT_TTL_S,
                     extra: Mapping[str, Any] | None = None) -> str:
        claims = {"sub": self._pairwise("idporten", pid), "pid": pid, "acr": acr, "amr": ["dev"]}
        return self.mint("citizen", claims, ttl, extra)

    def mint_sector(self, sector: Sector | str, org: str, person_id: str = "dev-official",
                    ttl: int = DEFAULT_TTL_S, extra: Mapping[str, Any] | None = None) -> str:
        claims = {"sub": person_id, "scope": f"{t.SECTOR_SCOPE}{Sector(sector)}",
                  "consumer": {"authority": "iso6523-actorid-upis",
                               "ID": f"{t.NORWEGIAN_ORG}:{org}"},
                  "client_id": f"dev-{Sector(sector)}-{org}"}
        return self.mint("sector", claims, ttl, extra)

    def mint_device(self, client_id: str, ttl: int = DEFAULT_TTL_S,
                    extra: Mapping[str, Any] | None = None) -> str:
        return self.mint("device", {"client_id": client_id, "scope": t.DEVICE_SCOPE}, ttl, extra)


def dev_validator(settings: Settings) -> t.TokenValidator:
    """A validator that trusts the development issuer's key (never in production)."""
    return t.TokenValidator(settings, keys=DevIssuer.from_settings(settings).jwks())

