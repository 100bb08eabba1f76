"""``python -m bench.overhead``: the CPU five pieces of a request cost, in one process, next
to the bare minimum, in microseconds of this process's CPU per call (medians of ``--rounds``):

- **a connection for one statement**: ``SELECT 1`` on a connection borrowed from the engine's
  pool as SQLAlchemy's ``AsyncConnection`` (how the read models borrowed it before), through
  ``libs.events.db.pooled`` (the driver's connection straight from the pool), and the baseline:
  ``SELECT 1`` on one held asyncpg connection (no pool at all); 16 borrowers at once;
- **the caller's headers**: a GET of a route shaped like a guarded FHIR read (router
  dependency, two path parameters, the caller, the access dependency, ``_as_of``), with the
  caller's three headers and the token's query parameter declared as FastAPI parameters (as
  ``current_subject`` had them), then read from the request (as it has them now); baseline: the
  same route with no dependencies. Sent straight to the ASGI app, no server and no socket;
- **a search's query**: a GET of a route with the journal's FHIR search parameters
  (``patient`` and ``code`` given), declared one by one as FastAPI parameters (as the route had
  them), then read in one validation (``libs.web.query.QueryModel``, as it has them now);
  baseline: the same path on a route with no query parameters;
- **a guard's patient id and purpose**: a GET of a ``/patients/{patient_id}/...`` route whose
  guard declares the patient id and ``X-Purpose-Of-Use`` as FastAPI parameters (as ``guarded``
  had them), then reads them from the request (``libs.web.by_hand``, as it has them now);
  baseline: the same route with a guard that reads nothing;
- **a request's spans**: the server span and the access log's append span, recorded at trace
  ratio 1.0 and 0.1 (``libs.telemetry.sampling``) into an exporter that keeps nothing, next
  to the same calls on OpenTelemetry's no-op tracer (no SDK at all).

Starts its own PostgreSQL (or uses ``DATABASE_URL``); writes ``bench/out/overhead-<time>.json``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

import asyncpg
import typer
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Response
from rich.console import Console
from rich.table import Table

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (SimpleSpanProcessor, SpanExporter,
                                            SpanExportResult)
from opentelemetry.trace import SpanKind

from bench.infra import stack
from libs.config import REPO_ROOT
from libs.events.db import asyncpg_dsn, make_engine, pooled
from libs.kernel.time import Instant
from libs.telemetry.sampling import TraceRatio

console = Console()
app = typer.Typer(add_completion=False, help=__doc__)
BORROWERS = 16


async def _per_call(call, n: int, concurrent: int = 1) -> float:
    """This process's CPU per call of ``call``, in µs."""
    async def worker(k: int) -> None:
        for _ in range(k):
            await call()
    await asyncio.gather(*(worker(n // concurrent) for _ in range(concurrent)))  # warm
    t0 = time.process_time()
    await asyncio.gather(*(worker(n // concurrent) for _ in range(concurrent)))
    return (time.process_time() - t0) / n * 1e6


async def _checkout(database_url: str, n: int) -> dict[str, float]:
    engine = make_engine(database_url, "public")
    held = await asyncpg.connect(asyncpg_dsn(database_url))
    lock = asyncio.Lock()

    async def sqlalchemy() -> None:
        async with engine.connect() as sa:
            await (await sa.get_raw_connection()).driver_connection.fetchval("SELECT 1")

    async def driver() -> None:
        async with pooled(engine) as conn:
            await conn.fetchval("SELECT 1")

    async def baseline() -> None:
        async with lock:   # one connection: one statement at a time
            await held.fetchval("SELECT 1")
    try:
        return {"AsyncConnection": await _per_call(sqlalchemy, n, BORROWERS),
                "pooled": await _per_call(driver, n, BORROWERS),
                "held connection (baseline)": await _per_call(baseline, n, BORROWERS)}
    finally:
        await held.close()
        await engine.dispose()


async def _negotiated(request: Request) -> None:
    request.query_params.get("_format")


async def _token(header: Annotated[str | None, Header(alias="X-Consistency-Token")] = None,
                 query: Annotated[str | None, Query(alias="consistency_token")] = None):
    return header or query


async def _declared(request: Request, authorization: Annotated[str | None, Header()] = None,
                    acting_for: Annotated[str | None, Header(alias="X-Acting-For")] = None,
                    t: Annotated[str | None, Depends(_token)] = None):
    return authorization, acting_for, t


async def _read(request: Request):
    h = request.headers
    return (h.get("authorization"), h.get("x-acting-for"),
            h.get("x-consistency-token") or request.query_params.get("consistency_token"))


async def _access(request: Request) -> int:
    return 1


def _routes() -> FastAPI:
    fastapi = FastAPI()
    for prefix, caller in (("/declared", _declared), ("/read", _read)):
        router = APIRouter(prefix=prefix, dependencies=[Depends(_negotiated)])

        # defaults, not Annotated[...]: a string annotation cannot name the loop's ``caller``
        @router.get("/{rtype}/{rid}")
        async def guarded(rtype: str, rid: str, who: tuple = Depends(caller),
                          a: int = Depends(_access),
                          as_of: str | None = Query(None, max_length=40)):
            return Response(b"{}")
        fastapi.include_router(router)

    @fastapi.get("/bare/{rtype}/{rid}")
    async def bare(rtype: str, rid: str):
        return Response(b"{}")
    return fastapi


def _get(asgi: FastAPI, path: str, query: bytes = b""):
    """A GET of ``path`` sent straight to the ASGI app, as a call to time (raises unless 200)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": query, "root_path": "", "server": ("bench", 80),
             "client": ("bench", 1), "state": {},
             "headers": [(b"host", b"bench"), (b"authorization", b"Bearer " + b"x" * 600),
                         (b"accept", b"application/fhir+json")]}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise RuntimeError(f"{path} answered {message['status']}: not measured")
    return lambda: asgi(scope, receive, send)


async def _headers(n: int) -> dict[str, float]:
    asgi = _routes()
    return {"headers declared": await _per_call(_get(asgi, "/declared/Observation/1"), n),
            "headers read": await _per_call(_get(asgi, "/read/Observation/1"), n),
            "bare route (baseline)": await _per_call(_get(asgi, "/bare/Observation/1"), n)}


def _search_routes() -> FastAPI:
    """The journal's FHIR search route's query parameters, declared one by one (as it had
    them) and read in one validation (``QueryModel(JournalSearch)``, as it has them now)."""
    from libs.web.query import QueryModel
    from services.journal.http.fhir import JournalSearch

    fastapi, search = FastAPI(), QueryModel(JournalSearch)

    # defaults, not Annotated[...]: string annotations cannot name this function's locals
    @fastapi.get("/declared/{rtype}")
    async def declared(rtype: str, patient: str | None = Query(None),
                       id_: str | None = Query(None, alias="_id"),
                       date_: list[str] | None = Query(None, alias="date"),
                       code: str | None = Query(None), status: str | None = Query(None),
                       category: str | None = Query(None, max_length=200),
                       identifier: str | None = Query(None, max_length=200),
                       count: int = Query(50, alias="_count", ge=1, le=500),
                       offset: int = Query(0, alias="_offset", ge=0, le=10_000),
                       as_of: Instant | None = Query(None),
                       cursor: str | None = Query(None, alias="_cursor", max_length=400)):
        return Response(b"{}")

    @fastapi.get("/read/{rtype}")
    async def read(rtype: str, q=Depends(search)):
        return Response(b"{}")

    @fastapi.get("/bare/{rtype}")
    async def bare(rtype: str):
        return Response(b"{}")
    return fastapi


def _guard_routes() -> FastAPI:
    """A guarded route's patient id and purpose: the guard declaring them (as ``guarded`` had
    them), reading them from the request (``libs.web.by_hand``, as it has them now); baseline:
    a guard that reads nothing (the route declares its own ``patient_id`` in all three)."""
    from libs.web.by_hand import path_uuid

    fastapi = FastAPI()

    async def declared(patient_id: UUID, request: Request,
                       purpose: str | None = Header(None, alias="X-Purpose-Of-Use")):
        return patient_id, purpose

    async def read(request: Request):
        return path_uuid(request, "patient_id"), request.headers.get("X-Purpose-Of-Use")

    async def none() -> None:
        return None

    for name, guard in (("declared", declared), ("read", read), ("bare", none)):
        @fastapi.get(f"/{name}/patients/{{patient_id}}/consents")
        async def route(patient_id: UUID, g=Depends(guard)):
            return Response(b"{}")
    return fastapi


async def _guards(n: int) -> dict[str, float]:
    asgi, pid = _guard_routes(), "0190a0b0-0000-7000-8000-000000000001"
    return {f"guard's id and purpose {k}": await _per_call(
        _get(asgi, f"/{k}/patients/{pid}/consents"), n) for k in ("declared", "read", "bare")}


async def _queries(n: int) -> dict[str, float]:
    asgi, query = _search_routes(), b"patient=Patient/0190a0b0-0000-7000-8000-000000000001" \
        b"&code=http://loinc.org|8867-4"
    return {f"search query {k}": await _per_call(_get(asgi, f"/{k}/Observation", query), n)
            for k in ("declared", "read", "bare")}


def _spans(n: int) -> dict[str, float]:
    """A request's two spans (the server span, the access log's append span) as the services
    make them, each sampled as ``otel_trace_ratio`` says, ended into an exporter that keeps
    nothing; baseline: the same two with no SDK (OpenTelemetry's no-op tracer)."""
    class Discard(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS

    def two(tracer) -> Callable[[], None]:
        def request() -> None:
            with tracer.start_as_current_span("GET", kind=SpanKind.SERVER, attributes={
                    "http.request.method": "GET", "url.scheme": "http"}) as span:
                if span.is_recording():
                    span.update_name("GET /fhir/{rtype}/{rid}")
                    span.set_attribute("http.route", "/fhir/{rtype}/{rid}")
                with tracer.start_as_current_span("event store append", kind=SpanKind.CLIENT,
                                                  attributes={"ehr.events": 2}):
                    pass
        return request

    def per_call(request: Callable[[], None]) -> float:
        for _ in range(n // 10):
            request()
        t0 = time.process_time()
        for _ in range(n):
            request()
        return (time.process_time() - t0) / n * 1e6

    got = {}
    for ratio in (1.0, 0.1):
        provider = TracerProvider(sampler=TraceRatio(ratio))
        provider.add_span_processor(SimpleSpanProcessor(Discard()))
        got[f"two spans, trace ratio {ratio}"] = per_call(two(provider.get_tracer("bench")))
    got["two spans, no SDK (baseline)"] = per_call(two(trace.NoOpTracer()))
    return got


@app.command()
def main(rounds: int = typer.Option(5, help="rounds; the median is reported"),
         calls: int = typer.Option(8000, help="calls per figure and round")) -> None:
    got: dict[str, list[float]] = {}

    async def measure(url: str) -> None:
        for r in range(rounds):
            console.log(f"round {r + 1} of {rounds}")
            for k, v in (await _checkout(url, calls) | await _headers(calls)
                         | await _queries(calls) | await _guards(calls)
                         | _spans(calls)).items():
                got.setdefault(k, []).append(v)
    with stack() as handle:
        asyncio.run(measure(handle.database_url))
    table = Table(title=f"CPU per call, µs (median of {rounds} rounds of {calls:,})")
    for col in ("what", "µs", "all rounds"):
        table.add_column(col)
    for k, vs in got.items():
        table.add_row(k, f"{statistics.median(vs):.1f}", " ".join(f"{v:.0f}" for v in vs))
    console.print(table)
    out = REPO_ROOT / "bench" / "out" / f"overhead-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rounds": rounds, "calls": calls, "borrowers": BORROWERS,
                               "us_per_call": got}, indent=1))
    console.print(f"written: {out.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    app()
