"""The prefix and path routers (issue 17): a router answers its own paths, and lets every
other path through to the routers after it without trying its routes: the prefix router by
its prefix (nested routers included), the path router by its routes' paths. No servers."""

from __future__ import annotations

import importlib

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from libs.config import Settings
from libs.web.routing import PathRouter, PrefixRouter


def counted(tried: list[str]) -> type[APIRoute]:
    class Counted(APIRoute):
        """A route that notes every path it is asked to match."""
        def matches(self, scope):
            tried.append(scope["path"])
            return super().matches(scope)
    return Counted


def make_app(tried: list[str]) -> FastAPI:
    fhir = PrefixRouter(prefix="/fhir", route_class=counted(tried))

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


# --- PathRouter: a router no path of which matches is passed by with one expression ----------

def path_app(tried: list[str]) -> tuple[FastAPI, PathRouter]:
    orders = PathRouter(route_class=counted(tried))

    @orders.post("/patients/{pid}/orders")
    async def order(pid: str):
        return {"served": f"order {pid}"}

    @orders.get("/files/{name:path}")
    async def file(name: str):
        return {"served": f"file {name}"}

    @orders.get("/items/{n:int}")
    async def item(n: int):
        return {"served": f"item {n + 1}"}

    reads = APIRouter()

    @reads.get("/patients/{pid}")
    async def patient(pid: str):
        return {"served": f"patient {pid}"}

    @reads.get("/patients/{pid}/orders")
    async def orders_read(pid: str):
        return {"served": f"orders of {pid}"}

    app = FastAPI()
    app.include_router(orders)
    app.include_router(reads)
    return app, orders


@pytest.mark.parametrize(("method", "path", "served"), [
    ("POST", "/patients/p1/orders", "order p1"),
    ("GET", "/patients/p1/orders", "orders of p1"),   # its path, another router's method
    ("GET", "/patients/p1", "patient p1"),
    ("GET", "/files/a/b.txt", "file a/b.txt"),
    ("GET", "/items/41", "item 42"),
])
async def test_each_path_reaches_its_route_past_a_path_router(method, path, served):
    answer = await _get(path_app([])[0], method, path)
    assert answer.status_code == 200
    assert answer.json() == {"served": served}


async def test_paths_it_has_not_never_try_its_routes():
    """Nor do paths it has only with another method, which a later router serves."""
    tried: list[str] = []
    app, _ = path_app(tried)
    assert (await _get(app, "GET", "/patients/p1")).json() == {"served": "patient p1"}
    assert (await _get(app, "GET", "/patients/p1/orders")).json() == {"served": "orders of p1"}
    assert (await _get(app, "GET", "/items/forty-one")).status_code == 404   # not an int
    assert (await _get(app, "GET", "/nowhere")).status_code == 404
    assert tried == []
    assert (await _get(app, "POST", "/patients/p1/orders")).status_code == 200
    assert set(tried) == {"/patients/p1/orders"}


async def test_a_path_it_has_with_another_method_is_405():
    answer = await _get(path_app([])[0], "DELETE", "/patients/p1/orders")
    assert answer.status_code == 405


async def test_routes_added_after_it_served_are_served():
    app, orders = path_app([])
    assert (await _get(app, "GET", "/later")).status_code == 404

    @orders.get("/later")
    async def later():
        return {"served": "later"}

    assert (await _get(app, "GET", "/later")).json() == {"served": "later"}


def test_a_path_router_holds_routes_only():
    with pytest.raises(TypeError):
        PathRouter().include_router(APIRouter())
    with pytest.raises(ValueError):
        PathRouter(prefix="/patients")


SERVICES = ("journal", "medication", "consent", "welfare", "citizen", "workspace",
            "registry_export")


@pytest.mark.parametrize("service", SERVICES)
def test_every_router_of_a_service_passes_other_paths_by(service, tmp_path):
    """Each router a service's app includes turns away the paths it does not serve before
    FastAPI tries its routes (a plain ``APIRouter`` would be tried route by route by every
    request that comes after it), and the FHIR routers hold their routes flat."""
    from fastapi.routing import _IncludedRouter   # how FastAPI keeps an included router

    app = importlib.import_module(f"services.{service}.app").create_app(
        Settings(environment="dev", dev_key_path=tmp_path / "k.pem"))   # and its dev sign-in
    included = [r.original_router for r in app.router.routes if isinstance(r, _IncludedRouter)]
    assert included, "the app includes its routers"
    for router in included:
        assert isinstance(router, PathRouter | PrefixRouter), router
        assert not any(isinstance(r, _IncludedRouter) for r in router.routes), router.prefix
    # a router's paths are its routes' own: included under a prefix, none would be found
    assert all(r.include_context.prefix == "" for r in app.router.routes
               if isinstance(r, _IncludedRouter))
