"""The relying party's half of OIDC authorization code with PKCE (S256), for a service's own
pages: the authorization URL, the code redeemed over the back channel with its verifier, the ID
token's nonce and audience checked, and the ``__Host-`` cookies a sign-in uses. The access
token that comes back is validated by the caller like any bearer token.

    oidc = OidcClient(issuer_url, client_id, redirect_uri, secret, http)
    url = oidc.authorize_url(state, nonce, verifier, scope="openid profile")
    access_token, id_claims = await oidc.redeem(code, verifier, nonce)   # or SignInFailed
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
import jwt
from fastapi.responses import Response

from libs.web.dev_login import s256


class SignInFailed(Exception):
    """The sign-in could not be completed (expired, replayed, refused by the issuer)."""


@dataclass(frozen=True)
class OidcClient:
    issuer_url: str        # /authorize and /token below it
    client_id: str
    redirect_uri: str
    client_secret: str | None
    http: httpx.AsyncClient

    def authorize_url(self, state: str, nonce: str, verifier: str, **more: str) -> str:
        query = {"client_id": self.client_id, "redirect_uri": self.redirect_uri,
                 "response_type": "code", "scope": "openid", "state": state, "nonce": nonce,
                 "code_challenge": s256(verifier), "code_challenge_method": "S256"} | more
        return f"{self.issuer_url}/authorize?{urlencode(query)}"

    async def redeem(self, code: str, verifier: str, nonce: str) -> tuple[str, dict]:
        """The access token and the ID token's claims for ``code``; SignInFailed when the
        issuer refuses, or the ID token's nonce or audience is not this sign-in's."""
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": self.redirect_uri, "client_id": self.client_id,
                "code_verifier": verifier}
        if self.client_secret:
            form["client_secret"] = self.client_secret
        try:
            r = await self.http.post(f"{self.issuer_url}/token", data=form, timeout=10)
        except httpx.HTTPError:
            raise SignInFailed("issuer unreachable") from None
        body = r.json() if r.status_code == 200 else None
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise SignInFailed("code refused")
        try:
            claims = jwt.decode(body.get("id_token") or "", options={"verify_signature": False})
        except jwt.PyJWTError:
            raise SignInFailed("no ID token") from None
        if claims.get("nonce") != nonce or claims.get("aud") not in (
                self.client_id, [self.client_id]):
            raise SignInFailed("ID token nonce or audience does not match")
        return body["access_token"], claims


def local_path(path: str | None, default: str) -> str:
    """Only a path of this site (no open redirect); ``default`` otherwise."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path \
            or len(path) > 300:
        return default
    return path


def set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", secure=True, httponly=True,
                        samesite="lax")


def drop_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="lax")
