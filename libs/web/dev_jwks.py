"""The development issuer's public keys over HTTP, for other local services (never in
production: the composition root mounts it only outside production without a configured JWKS)."""

from __future__ import annotations

from fastapi import APIRouter

from libs.access.dev_issuer import DevIssuer
from libs.web.routing import PathRouter


def jwks_router(issuer: DevIssuer) -> APIRouter:
    """``GET /.well-known/jwks.json``: publish the development key set locally."""
    router = PathRouter(tags=["development"])

    @router.get("/.well-known/jwks.json", include_in_schema=False)
    def jwks() -> dict:
        return issuer.jwks()

    return router
