"""Bearer tokens -> subjects (DOMAIN.md §10, §11 requirements 7-8; DESIGN.md §4).

``TokenValidator(settings).validate(raw)`` checks the signature (RS256/ES256 only), issuer,
audience and lifetime, then maps the claims: HelseID -> ``Practitioner``, ID-porten ->
``CitizenLogin`` (the pid is mapped to a patient elsewhere), Maskinporten -> ``SectorOfficial`` or
``Device``. Refusals are ``TokenError`` (401 = not authenticated, 403 = authenticated but not
enough); their messages never contain token contents or national ids, and neither do the logs.
Production refuses the development issuer and any key whose ``kid`` starts with ``ehr-dev-``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from opentelemetry import trace
from pydantic import ValidationError

from libs.kernel.identifiers import InvalidIdentifier, parse_hpr, parse_person_id, validate_orgnr
from libs.access.model import Device, Practitioner, Role, Sector, SectorOfficial
from libs.config import Settings

log = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "ES256")
LEEWAY_S = 30
DEV_KID_PREFIX = "ehr-dev-"
# HelseID claims (DOMAIN.md §10); client_name is for logging only and is never read here (req 7)
PID = "helseid://claims/identity/pid"
SECURITY_LEVEL = "helseid://claims/identity/security_level"
HPR = "helseid://claims/hpr/hpr_number"
ORG_PARENT = "helseid://claims/client/claims/orgnr_parent"
ORG_CHILD = "helseid://claims/client/claims/orgnr_child"
CLIENT_NAME = "helseid://claims/client/client_name"
ROLES = "ehr://claims/roles"
KIND = "ehr://claims/kind"  # set by the development issuer only
DEVICE_SCOPE = "ehr:device"
SECTOR_SCOPE = "ehr:sector/"
NORWEGIAN_ORG = "0192"  # ISO 6523 ICD of the Norwegian organisation number


class TokenError(Exception):
    """A refused token: ``status`` 401 (who are you?) or 403 (not enough), one-sentence
    ``message``, safe to show and log."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message

    @property
    def headers(self) -> dict[str, str]:
        error = "invalid_token" if self.status == 401 else "insufficient_scope"
        return {"WWW-Authenticate": f'Bearer error="{error}"'}


class TokenConfigError(RuntimeError):
    """The validator cannot start: the key set is missing, unreadable or not allowed here."""


@dataclass(frozen=True, repr=False)
class CitizenLogin:
    """An ID-porten login before its pid is looked up as a patient; repr masks the pid."""

    pid: str
    sub: str
    acr: str

    def __repr__(self) -> str:
        return f"CitizenLogin(pid='***********', sub={self.sub!r}, acr={self.acr!r})"


TokenSubject = Practitioner | CitizenLogin | SectorOfficial | Device


HEADER_PADDING = 32   # what a header may add to its token ("Bearer", spaces): with the
#                      token's own cap (token_max_bytes) this bounds the header


def parse_authorization(header: str | None) -> str:
    """The raw token of an ``Authorization: Bearer <token>`` header, or TokenError 401. The
    token's size is checked by ``TokenValidator.validate``; the header may add only
    ``HEADER_PADDING`` characters to it."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenError(401, "an Authorization header with a Bearer token is required")
    token = token.strip()
    if len(header or "") - len(token) > HEADER_PADDING:
        raise TokenError(401, "the Authorization header is too large: send only "
                              "'Bearer <token>'")
    return token


def load_keys(source: str | Mapping | jwt.PyJWKSet | jwt.PyJWKClient,
              production: bool = False) -> jwt.PyJWKSet | jwt.PyJWKClient:
    """A key set from a JWKS given as a dict, inline JSON, a file path or an https URL."""
    if isinstance(source, jwt.PyJWKSet | jwt.PyJWKClient):
        return source
    try:
        if isinstance(source, Mapping):
            return jwt.PyJWKSet.from_dict(dict(source))
        text = source.strip()
        if text.startswith("{"):
            return jwt.PyJWKSet.from_json(text)
        if text.startswith(("https://", "http://")):
            if production and not text.startswith("https://"):
                raise TokenConfigError("EHR_JWKS must be an https URL in production")
            # the set is cached 5 min; no per-key LRU cache: it would keep a withdrawn key
            return jwt.PyJWKClient(text, cache_keys=False, lifespan=300, timeout=10)
        return jwt.PyJWKSet.from_json(Path(text).expanduser().read_text())
    except (OSError, ValueError, jwt.PyJWTError) as exc:
        raise TokenConfigError(f"the JWKS (EHR_JWKS) cannot be read as a key set "
                               f"({type(exc).__name__})") from None


def _text(value: Any) -> str | None:
    """A claim as non-empty text (numbers are accepted as text), else None."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value).strip() or None


def _scopes(claims: Mapping) -> set[str]:
    scope = claims.get("scope", "")
    items = scope.split() if isinstance(scope, str) else scope if isinstance(scope, list) else []
    return {s for s in items if isinstance(s, str)}


def _identifier(parse, value: Any, claim: str) -> str:
    """An identifier claim in its canonical form, or 401: a token whose identifiers do not parse
    is refused, never passed on to be compared as text."""
    try:
        return parse(value)
    except InvalidIdentifier as exc:
        raise TokenError(401, f"the token's {claim} claim is not a valid identifier: "
                              f"{exc}") from None


def _security_level(value: Any) -> int:
    """HelseID's security level: one digit, as an integer or as exactly that digit in text
    ("4"); "4\\n", " 4", 4.0 and booleans are refused."""
    if value is None:
        raise _forbid("the HelseID token states no security level")
    if isinstance(value, bool) or not isinstance(value, int | str) or not re.fullmatch(
            r"[0-9]", str(value), flags=re.ASCII):
        raise TokenError(401, "the HelseID token's security_level must be one digit")
    return int(value)


def _forbid(message: str) -> TokenError:
    return TokenError(403, message)


def _required(claims: Mapping, name: str) -> str:
    value = _text(claims.get(name))
    if value is None:
        raise _forbid(f"the token lacks the required claim {name}")
    return value


def _build(model, **fields):
    try:
        return model(**fields)
    except ValidationError:  # its text would repeat claim values
        raise _forbid("the token's identity claims are malformed") from None


CACHE_S = 60.0
CACHE_SIZE = 10_000


class TokenValidator:
    """Validates bearer tokens against ``settings.jwks`` (or ``keys``, e.g. for tests)."""

    def __init__(self, settings: Settings, keys: str | Mapping | jwt.PyJWKSet | None = None):
        self.s = settings
        self.production = settings.environment == "production"
        source = keys if keys is not None else settings.jwks
        if source is None:
            raise TokenConfigError("no JWKS is configured: set EHR_JWKS to inline JSON, a file "
                                   "or an https URL (or use dev_validator() outside production)")
        self.keys = load_keys(source, self.production)
        if self.production and isinstance(self.keys, jwt.PyJWKSet) and any(
                (k.key_id or "").startswith(DEV_KID_PREFIX) for k in self.keys):
            raise TokenConfigError("the JWKS contains a development key (kid ehr-dev-...), "
                                   "which production never trusts; remove it from EHR_JWKS")
        self._cache: dict[bytes, tuple[float, TokenSubject]] = {}
        self.kinds: dict[str, set[str]] = {}
        for kind, iss in (("practitioner", settings.helseid_issuer),
                          ("citizen", settings.idporten_issuer),
                          ("sector", settings.sector_issuer), ("device", settings.device_issuer)):
            self.kinds.setdefault(iss, set()).add(kind)
        if not self.production:
            self.kinds[settings.dev_issuer] = {"practitioner", "citizen", "sector", "device"}

    def validate(self, raw: str) -> TokenSubject:
        """The subject of a valid token; TokenError otherwise. Never logs the token.

        A token that passed is remembered (by its SHA-256) until it expires, but never longer
        than ``CACHE_S``: a client sends the same token with every request, and verifying its
        signature was 5-11 % of a request's CPU (bench/RESULTS.md, journal). The bound keeps a
        key removed from the JWKS from being trusted for long."""
        cap = self.s.token_max_bytes
        if isinstance(raw, str) and (len(raw) > cap or len(raw.encode(errors="replace")) > cap):
            log.info("bearer token refused (401): larger than %d bytes", cap)
            raise TokenError(401, f"the bearer token is larger than the {cap} bytes this "
                                  f"service accepts")
        key = hashlib.sha256(raw.encode()).digest() if isinstance(raw, str) else b""
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.time():
            trace.get_current_span().set_attribute("ehr.subject.kind", type(hit[1]).__name__)
            return hit[1]
        try:
            subject = self._validate(raw)
        except TokenError as exc:
            log.info("bearer token refused (%d): %s", exc.status, exc.message)
            trace.get_current_span().add_event("ehr.token.refused", {"status": exc.status})
            raise
        trace.get_current_span().set_attribute("ehr.subject.kind", type(subject).__name__)
        self._remember(key, raw, subject)
        return subject

    def _remember(self, key: bytes, raw: str, subject: TokenSubject) -> None:
        exp = jwt.decode(raw, options={"verify_signature": False}).get("exp")
        if not isinstance(exp, int | float):
            return
        self._cache[key] = (min(float(exp), time.time() + CACHE_S), subject)
        if len(self._cache) > CACHE_SIZE:
            now = time.time()
            for k in [k for k, (until, _) in self._cache.items() if until <= now]:
                del self._cache[k]
            while len(self._cache) > CACHE_SIZE:
                del self._cache[next(iter(self._cache))]

    def _validate(self, raw: str) -> TokenSubject:
        if not isinstance(raw, str) or not raw.strip():
            raise TokenError(401, "a bearer token is required")
        try:
            header = jwt.get_unverified_header(raw)
        except jwt.PyJWTError:
            raise TokenError(401, "the bearer token is not a well-formed JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise TokenError(401, "the token is not signed with an accepted algorithm "
                                  "(RS256 or ES256)")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenError(401, "the token header names no signing key (kid)")
        if self.production and kid.startswith(DEV_KID_PREFIX):
            raise TokenError(401, "tokens from the development issuer are not accepted in "
                                  "production")
        claims = self._decode(raw, self._key(kid))
        self._lifetime(claims)
        iss = claims["iss"]
        if (iss == self.s.dev_issuer) != kid.startswith(DEV_KID_PREFIX):
            raise TokenError(401, "the token's issuer does not match the key that signed it")
        kind = self._kind(iss, claims)
        return getattr(self, f"_{kind}")(claims)

    def _key(self, kid: str) -> jwt.PyJWK:
        try:
            if isinstance(self.keys, jwt.PyJWKClient):
                return self.keys.get_signing_key(kid)
            return self.keys[kid]
        except jwt.PyJWKClientConnectionError:
            log.warning("the JWKS endpoint cannot be reached")
            raise TokenError(503, "the identity provider's keys cannot be fetched right now; "
                                  "try again shortly") from None
        except (KeyError, jwt.PyJWTError):
            raise TokenError(401, "the token is signed with a key this service does not "
                                  "trust") from None

    def _decode(self, raw: str, key: jwt.PyJWK) -> dict[str, Any]:
        try:
            return jwt.decode(raw, key, algorithms=list(ALGORITHMS),
                              audience=self.s.token_audience, issuer=list(self.kinds),
                              leeway=LEEWAY_S, options={"require": ["exp", "iat", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            msg = "the token has expired"
        except jwt.ImmatureSignatureError:
            msg = "the token is not valid yet (nbf or iat lies in the future)"
        except jwt.InvalidAudienceError:
            msg = f"the token is not meant for this service (audience {self.s.token_audience})"
        except jwt.InvalidIssuerError:  # raised after the signature was verified
            msg = "the token comes from an issuer this service does not trust"
            iss = jwt.decode(raw, options={"verify_signature": False}).get("iss")
            if self.production and iss == self.s.dev_issuer:
                msg = "tokens from the development issuer are not accepted in production"
        except jwt.MissingRequiredClaimError as exc:
            msg = f"the token lacks the standard claim {exc.claim}"
        except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError, jwt.InvalidKeyError):
            msg = "the token signature is not valid"
        except jwt.PyJWTError:
            msg = "the token could not be validated"
        raise TokenError(401, msg)

    def _lifetime(self, claims: Mapping) -> None:
        """Strict times: ``exp``, ``iat`` (and ``nbf`` if present) are integers (NumericDate; a
        string or a boolean is refused), and no token lives longer than
        ``token_max_lifetime_s``, neither from its issue nor from now."""
        for name in ("exp", "iat", "nbf"):
            value = claims.get(name)
            if name in claims and (isinstance(value, bool) or not isinstance(value, int)):
                raise TokenError(401, f"the token's {name} claim must be an integer number of "
                                      f"seconds, not {type(value).__name__}")
        longest = self.s.token_max_lifetime_s
        if (claims["exp"] - claims["iat"] > longest
                or claims["exp"] - time.time() > longest + LEEWAY_S):
            raise TokenError(401, f"the token lives longer than the {longest} seconds this "
                                  f"service accepts; ask for a token with a shorter lifetime")

    def _kind(self, iss: str, claims: Mapping) -> str:
        if iss == self.s.dev_issuer and not self.production:
            kind = claims.get(KIND)
            if not isinstance(kind, str) or kind not in self.kinds[iss]:
                raise _forbid(f"a development token must name its kind in {KIND}")
            return kind
        kinds = self.kinds[iss]
        if len(kinds) == 1:
            return next(iter(kinds))
        scopes = _scopes(claims)
        looks = {"practitioner": SECURITY_LEVEL in claims, "citizen": "acr" in claims,
                 "device": DEVICE_SCOPE in scopes,
                 "sector": any(s.startswith(SECTOR_SCOPE) for s in scopes)}
        for kind in ("practitioner", "citizen", "device", "sector"):
            if kind in kinds and looks[kind]:
                return kind
        raise _forbid("the token grants no scope this service knows (ehr:device or "
                      "ehr:sector/<sector>)")

    def _practitioner(self, c: Mapping) -> Practitioner:
        pid = _text(c.get(PID))
        if not pid:
            raise _forbid("the HelseID token lacks the person's national id (pid claim)")
        self._person_id(pid, "pid", synthetic=True)   # never mapped to a patient
        level = _security_level(c.get(SECURITY_LEVEL))
        if level < self.s.min_security_level:
            raise _forbid(f"security level {level} is below the required "
                          f"{self.s.min_security_level}; log in with a higher level")
        org_parent = _text(c.get(ORG_PARENT))
        if org_parent is None:
            raise _forbid("the HelseID token names no legal entity (orgnr_parent)")
        org_parent = _identifier(validate_orgnr, org_parent, "orgnr_parent")
        org_child, hpr = _text(c.get(ORG_CHILD)), c.get(HPR)
        org_child = org_child and _identifier(validate_orgnr, org_child, "orgnr_child")
        hpr = None if hpr is None else _identifier(parse_hpr, hpr, "hpr_number")
        raw_roles = c.get(ROLES, [])
        raw_roles = [raw_roles] if isinstance(raw_roles, str) else raw_roles
        known = {r.value for r in Role}
        if not isinstance(raw_roles, list) or not all(isinstance(r, str) and r in known
                                                      for r in raw_roles):
            raise _forbid(f"the token carries a role this service does not know (known: "
                          f"{', '.join(sorted(known))})")
        return _build(Practitioner, person_id=_required(c, "sub"), hpr=hpr,
                      name=_text(c.get("name")), org_parent=org_parent,
                      org_child=org_child, roles=frozenset(map(Role, raw_roles)),
                      security_level=level)

    def _person_id(self, pid: str, claim: str, synthetic: bool = False) -> str:
        try:
            return parse_person_id(pid, allow_synthetic=synthetic or not self.production,
                                   rule_2032=self.s.id_rule_2032).value
        except InvalidIdentifier:  # its text names digits of the number: not for a token error
            raise TokenError(401, f"the token's {claim} claim is not a valid national id "
                                  f"number") from None

    def _citizen(self, c: Mapping) -> CitizenLogin:
        pid, sub, acr = (_text(c.get(k)) for k in ("pid", "sub", "acr"))
        if pid is None or sub is None:
            raise _forbid("the ID-porten token lacks the pid or sub claim")
        if acr not in self.s.citizen_acr:
            raise _forbid(f"this service requires a login at assurance level "
                          f"{' or '.join(self.s.citizen_acr)}; log in again with a higher level")
        return CitizenLogin(pid=self._person_id(pid, "pid"), sub=sub, acr=acr)

    def _sector(self, c: Mapping) -> SectorOfficial:
        consumer = c.get("consumer")
        ident = _text(consumer.get("ID")) if isinstance(consumer, Mapping) else None
        icd, _, org = (ident or "").partition(":")
        if icd != NORWEGIAN_ORG or not re.fullmatch(r"[0-9]{9}", org):
            raise _forbid("the token names no Norwegian consumer organisation (consumer.ID)")
        org = _identifier(validate_orgnr, org, "consumer.ID")
        sectors = {s.removeprefix(SECTOR_SCOPE) for s in _scopes(c) if s.startswith(SECTOR_SCOPE)}
        known = {s.value for s in Sector}
        if len(sectors) != 1 or not sectors <= known:
            raise _forbid(f"the token must grant exactly one scope ehr:sector/<sector> with a "
                          f"known sector ({', '.join(sorted(known))})")
        return _build(SectorOfficial, person_id=_required(c, "sub"), sector=Sector(sectors.pop()),
                      org=org)

    def _device(self, c: Mapping) -> Device:
        if DEVICE_SCOPE not in _scopes(c):
            raise _forbid(f"the token does not grant the {DEVICE_SCOPE} scope")
        return _build(Device, client_id=_required(c, "client_id"))
