"""Which service owns which FHIR resource type: the one map behind the FHIR base of the
Ingress (``helm/ehr``) and of a local gateway.

It is read from the services themselves: each API's own CapabilityStatement (``GET
/fhir/metadata``), asked in-process without starting the service (no database, no broker, no
lifespan). A resource type claimed by two services is an error, not a silent pick.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx

from libs.web.manifest import Manifest
from libs.web.service import Options


class FhirRouteConflict(ValueError):
    pass


async def _types_of(manifest: Manifest) -> list[str]:
    app = manifest.create_app(options=Options(telemetry=False, background=False))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        answer = await client.get("/fhir/metadata")
    if answer.status_code == 404:   # an API without a FHIR interface
        return []
    answer.raise_for_status()
    return [r["type"] for rest in answer.json().get("rest", []) for r in rest.get("resource", [])]


async def fhir_routes_async(manifests: Sequence[Manifest]) -> dict[str, str]:
    routes: dict[str, str] = {}
    for manifest in manifests:
        if manifest.create_app is None:
            continue
        for rtype in await _types_of(manifest):
            owner = routes.setdefault(rtype, manifest.name)
            if owner != manifest.name:
                raise FhirRouteConflict(f"FHIR {rtype} is served by both {owner} and "
                                        f"{manifest.name}")
    return dict(sorted(routes.items()))


def fhir_routes(manifests: Sequence[Manifest]) -> dict[str, str]:
    """FHIR resource type -> the name of the service that serves it."""
    return asyncio.run(fhir_routes_async(manifests))
