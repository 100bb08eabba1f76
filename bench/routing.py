"""``python -m bench.routing``: what finding its route costs a request, in each service's app
as built, beside a FastAPI app that holds that one route alone (issue 17).

Each hot request (a FHIR read, search and create, the journal's overview and signed note, the
medication list and order, the consent read) goes through the app's router (Starlette's and
FastAPI's matching and dispatch, ``libs/web/routing.py``'s routers) to its endpoint, which is
replaced by a function that does nothing: what is timed is the way there. The baseline is the
same path and method in an app of one route, the least FastAPI's matching costs. No
servers, database or network; no middleware (they cost the same either way). Prints a table
and writes ``bench/out/routing-<time>.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from time import perf_counter

import typer
from fastapi import FastAPI
from fastapi.routing import APIRoute, _IncludedRouter
from rich.console import Console
from starlette.exceptions import HTTPException
from rich.table import Table

from libs.config import REPO_ROOT, Settings

OUT = REPO_ROOT / "bench" / "out"
PATIENT = str(uuid.UUID(int=1))
CASES = {
    "journal": [("GET", "/fhir/{rtype}/{rid}", f"/fhir/Observation/{PATIENT}"),
                ("GET", "/fhir/{rtype}", "/fhir/Observation"),
                ("POST", "/fhir/{rtype}", "/fhir/Observation"),
                ("GET", "/patients/{patient_id}", f"/patients/{PATIENT}"),
                ("POST", "/patients/{patient_id}/notes", f"/patients/{PATIENT}/notes")],
    "medication": [("GET", "/patients/{patient_id}/medication-list",
                    f"/patients/{PATIENT}/medication-list"),
                   ("POST", "/patients/{patient_id}/medication-list/prescriptions",
                    f"/patients/{PATIENT}/medication-list/prescriptions")],
    "consent": [("GET", "/patients/{patient_id}/consents", f"/patients/{PATIENT}/consents")],
}


async def _nothing(scope, receive, send) -> None:
    scope["ehr.reached"] = True


def _routes(router) -> Iterator[APIRoute]:
    for route in router.routes:
        if isinstance(route, _IncludedRouter):
            yield from _routes(route.original_router)
        elif isinstance(route, APIRoute):
            yield route


@contextlib.contextmanager
def stubbed(app: FastAPI) -> Iterator[FastAPI]:
    """``app`` with every route's handling replaced by ``_nothing`` (nested routers' too), put
    back at the end: a service's routers are its modules' own, shared by every app made of
    them."""
    routes = list(_routes(app.router))
    for route in routes:
        route.handle = _nothing   # shadows the method on this object only
    try:
        yield app
    finally:
        for route in routes:
            del route.handle


def alone(method: str, template: str) -> FastAPI:
    """An app of one route: ``template`` answering ``method``."""
    app = FastAPI()

    async def endpoint() -> None: ...
    app.add_api_route(template, endpoint, methods=[method])
    return app


def service_app(service: str) -> FastAPI:
    """The service's app as ``ehr run api`` builds it (no lifespan: nothing is started)."""
    return importlib.import_module(f"services.{service}.app").create_app(
        Settings(environment="test"))


async def time_it(app: FastAPI, method: str, path: str, n: int) -> float:
    """µs per request through the app's router to the (stubbed) endpoint."""
    async def receive() -> dict:
        return {"type": "http.request"}

    async def send(message: dict) -> None: ...

    def scope() -> dict:
        return {"type": "http", "method": method, "path": path, "root_path": "",
                "headers": [], "query_string": b"", "app": app}

    first = scope()
    try:
        await app.router.app(first, receive, send)
    except HTTPException as exc:   # Starlette's 404 or 405, with no middleware to answer it
        raise RuntimeError(f"{method} {path} reached no endpoint ({exc.status_code})") from exc
    if not first.get("ehr.reached"):
        raise RuntimeError(f"{method} {path} reached no endpoint")
    for _ in range(n // 10):   # warm
        await app.router.app(scope(), receive, send)
    started = perf_counter()
    for _ in range(n):
        await app.router.app(scope(), receive, send)
    return (perf_counter() - started) / n * 1e6


def main(n: int = typer.Option(20_000, help="requests timed per case"),
         rounds: int = typer.Option(3, help="rounds; the table shows each case's best")) -> None:
    console = Console()
    rows = []
    for service, cases in CASES.items():
        with stubbed(service_app(service)) as app:
            for method, template, path in cases:
                with stubbed(alone(method, template)) as one:
                    ours = min(asyncio.run(time_it(app, method, path, n)) for _ in range(rounds))
                    floor = min(asyncio.run(time_it(one, method, path, n))
                                for _ in range(rounds))
                rows.append({"service": service, "request": f"{method} {template}",
                             "ours_us": ours, "one_route_us": floor})
    table = Table(title=f"Route matching and dispatch, µs per request (best of {rounds} × "
                        f"{n:,})")
    for column in ("service", "request", "app as built", "app of that route alone",
                   "difference"):
        table.add_column(column, justify="right" if column[0] in "ad" else "left", no_wrap=True)
    for r in rows:
        table.add_row(r["service"], r["request"], f"{r['ours_us']:.1f}",
                      f"{r['one_route_us']:.1f}", f"{r['ours_us'] - r['one_route_us']:+.1f}")
    console.print(table)
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"routing-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"n": n, "rounds": rounds, "rows": rows}, indent=1))
    console.print(f"written: {out.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    typer.run(main)
