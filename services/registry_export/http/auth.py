"""Analysts sign in with Maskinporten-shaped tokens (client credentials of their
organisation) that grant a registry scope:

- ``ehr:registry/statistics``: the published (suppressed) tables and the catalogue;
- ``ehr:registry/research``: released research files as well.

The token is checked like every other (signature against the JWKS, audience, lifetime, size:
``libs/access/tokens.py``); it must name the client (``client_id``) and the consumer
organisation (``consumer.ID`` = ``0192:<orgnr>``). Outside production the development issuer
mints them (``kind`` ``analyst``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import Request

from libs.access import tokens as t
from libs.kernel.identifiers import validate_orgnr

STATISTICS = "ehr:registry/statistics"
RESEARCH = "ehr:registry/research"
SCOPES = (STATISTICS, RESEARCH)


@dataclass(frozen=True)
class Analyst:
    client_id: str
    org: str
    scopes: frozenset[str]

    @property
    def actor_id(self) -> str:
        return self.client_id


def _scopes(claims: Mapping) -> set[str]:
    scope = claims.get("scope", "")
    return set(scope.split()) if isinstance(scope, str) else set()


class AnalystTokens(t.TokenValidator):
    """The platform's validator, with one kind of subject: an analyst's client."""

    def _kind(self, iss: str, claims: Mapping) -> str:
        dev = iss == self.s.dev_issuer and not self.production
        if (dev and claims.get(t.KIND) == "analyst") or (
                not dev and iss == self.s.sector_issuer and _scopes(claims) & set(SCOPES)):
            return "analyst"
        raise t.TokenError(403, "this API needs a Maskinporten token with the scope "
                                f"{STATISTICS} or {RESEARCH}")

    def _analyst(self, c: Mapping) -> Analyst:
        client = c.get("client_id")
        consumer = c.get("consumer")
        ident = consumer.get("ID") if isinstance(consumer, Mapping) else None
        icd, _, org = ident.partition(":") if isinstance(ident, str) else ("", "", "")
        if not isinstance(client, str) or not re.fullmatch(r"[\w.:-]{1,100}", client):
            raise t.TokenError(403, "the token names no client (client_id)")
        if icd != t.NORWEGIAN_ORG or not re.fullmatch(r"\d{9}", org):
            raise t.TokenError(403, "the token names no Norwegian consumer organisation "
                                    "(consumer.ID)")
        try:
            validate_orgnr(org)
        except ValueError:
            raise t.TokenError(403, "the consumer organisation number is not valid") from None
        scopes = frozenset(_scopes(c) & set(SCOPES))
        if not scopes:
            raise t.TokenError(403, f"the token grants neither {STATISTICS} nor {RESEARCH}")
        return Analyst(client, org, scopes)


def analyst(scope: str):
    """A dependency: the signed-in analyst, who must hold ``scope``."""

    def check(request: Request) -> Analyst:
        raw = t.parse_authorization(request.headers.get("authorization"))
        who = request.app.state.tokens.validate(raw)
        if scope not in who.scopes:
            raise t.TokenError(403, f"the token does not grant the scope {scope}")
        return who

    return check
