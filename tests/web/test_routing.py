"""The prefix router (issue 17): standing first among an app's routers, it answers its own
paths, nested routers included, and lets every other path through to the routers after it,
without trying its routes. No servers needed."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from libs.web.routing import PrefixRouter


def make_app(tried: list[str]) -> FastAPI:
    class Counted(APIRoute):
        """A FHIR route that notes every path it is asked to match."""
        def matches(self, scope):
            tried.append(scope["path"])
            return super().matches(scope)

    fhir = PrefixRouter(prefix="/fhir", route_class=Counted)

    @fhir.post("")
    async def transaction():
        return {"served": "transaction"}

    nested = APIRouter()

    @nested.get("/{rtype}/{rid}")
    async def read(rtype: str, rid: str):
        return {"served": f"read {rtype}/{rid}"}

    fhir.include_router(nested)

    @fhir.get("/{anything:path}")
    async def everything(anything: str):
        return {"served": "fhir catch-all"}

    rest = APIRouter()

    @rest.get("/patients/{pid}")
    async def patient(pid: str):
        return {"served": f"patient {pid}"}

    @rest.get("/fhirish")
    async def fhirish():
        return {"served": "fhirish"}

    app = FastAPI()
    app.include_router(fhir)
    app.include_router(rest)
    return app


async def _get(app: FastAPI, method: str, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        return await client.request(method, path)


@pytest.mark.parametrize(("method", "path", "served"), [
    ("GET", "/fhir/Patient/p1", "read Patient/p1"),
    ("POST", "/fhir", "transaction"),
    ("GET", "/fhir/metadata/x/y", "fhir catch-all"),
    ("GET", "/patients/p1", "patient p1"),
    ("GET", "/fhirish", "fhirish"),
])
async def test_each_path_reaches_its_route(method, path, served):
    tried: list[str] = []
    answer = await _get(make_app(tried), method, path)
    assert answer.status_code == 200
    assert answer.json() == {"served": served}


async def test_other_paths_never_try_the_prefixed_routes():
    tried: list[str] = []
    app = make_app(tried)
    assert (await _get(app, "GET", "/nowhere")).status_code == 404
    assert (await _get(app, "GET", "/patients/p1")).json() == {"served": "patient p1"}
    assert (await _get(app, "GET", "/fhirish")).json() == {"served": "fhirish"}
    assert tried == []
    assert (await _get(app, "GET", "/fhir/Patient/p1")).status_code == 200
    assert tried and set(tried) == {"/fhir/Patient/p1"}


def test_a_prefix_is_one_or_more_whole_segments():
    for bad in ("fhir", "/fhir/", ""):
        with pytest.raises(ValueError):
            PrefixRouter(prefix=bad)
