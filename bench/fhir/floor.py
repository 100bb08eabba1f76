"""The FHIR benchmark's floor: the same four interactions served with no platform at all, so
that each side's figures stand next to what this machine gives a Python service at best.

FastAPI and an asyncpg pool over one table, one uvicorn process (as each of our APIs), on the
same PostgreSQL server in a database of its own (as HAPI has); the client reaches it directly,
as it reaches HAPI. What it does per interaction, each committed before it answers:

- **transaction**: the Bundle parsed (orjson), an id per entry, the Observations' ``urn:uuid``
  subjects resolved to the new Patient, every resource inserted in one statement; a
  ``transaction-response`` with each entry's location;
- **create**: one resource inserted; 201 with ``Location``, ``ETag`` and the resource;
- **read**: the stored JSON by id (200), or 404;
- **search**: a patient's resources of the type and one code (``system|code``), newest first,
  at most 20, as a ``searchset`` Bundle.

Nothing else: no FHIR validation, no token, no access decision, no access log, no events, no
telemetry. It is not a FHIR server; it is the cost of HTTP, JSON and one PostgreSQL round trip
in this stack on this machine, a floor under what a Python service that does more can reach.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import orjson
from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.engine import make_url

from bench import loadgen as lg
from bench.fhir.hapi_server import admin
from bench.fhir.workload import FHIR_JSON, Side
from bench.infra import unique
from libs.devstack.procs import free_port
from libs.events.db import asyncpg_dsn

MODE = "fhir-raw"   # its mode in bench/servers.py
PAGE = 20
TABLE = """
CREATE TABLE IF NOT EXISTS resources (
    rtype text NOT NULL, id uuid NOT NULL, patient uuid, code text, effective timestamptz,
    doc jsonb NOT NULL, PRIMARY KEY (rtype, id));
CREATE INDEX IF NOT EXISTS resources_search ON resources (patient, code, effective DESC)"""
INSERT = """
INSERT INTO resources (rtype, id, patient, code, effective, doc)
SELECT * FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::timestamptz[],
                     $6::text[]::jsonb[])"""
READ = "SELECT doc::text FROM resources WHERE rtype = $1 AND id = $2"
SEARCH = f"""SELECT doc::text FROM resources WHERE patient = $1 AND code = $2 AND rtype = $3
              ORDER BY effective DESC LIMIT {PAGE}"""


class Unreadable(ValueError):
    """A body the floor cannot take (answered 400)."""


Row = tuple[str, UUID, UUID | None, str | None, datetime | None, str]


def row(resource: dict, rid: UUID, now: str, named: dict[str, str]) -> Row:
    """The table's row of a new resource, its id and ``meta`` set, a subject reference that
    names an entry of the same Bundle (``named``: fullUrl -> ``Type/id``) resolved."""
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise Unreadable("an entry without a resource")
    rtype = resource["resourceType"]
    resource["id"], resource["meta"] = str(rid), {"versionId": "1", "lastUpdated": now}
    patient = code = effective = None
    if rtype == "Patient":
        patient = rid
    elif isinstance(subject := resource.get("subject"), dict):
        ref = named.get(subject.get("reference"), subject.get("reference"))
        subject["reference"] = ref
        if isinstance(ref, str) and ref.startswith("Patient/"):
            patient = _uuid(ref.removeprefix("Patient/"))
        coding = ((resource.get("code") or {}).get("coding") or [{}])[0]
        code = f"{coding.get('system')}|{coding.get('code')}"
        if isinstance(at := resource.get("effectiveDateTime"), str):
            try:
                effective = datetime.fromisoformat(at)
            except ValueError:
                raise Unreadable("effectiveDateTime") from None
    return rtype, rid, patient, code, effective, orjson.dumps(resource).decode()


def _uuid(raw: str) -> UUID | None:
    try:
        return UUID(raw)
    except ValueError:
        return None


def transaction_rows(bundle: dict, now: str) -> list[Row]:
    """The rows of a transaction Bundle's entries (Patients first named, so that the
    Observations after them can point at them)."""
    if not isinstance(bundle, dict) or bundle.get("type") != "transaction":
        raise Unreadable("not a transaction Bundle")
    entries = bundle.get("entry") or []
    ids = [uuid4() for _ in entries]
    named = {e.get("fullUrl"): f"{(e.get('resource') or {}).get('resourceType')}/{rid}"
             for e, rid in zip(entries, ids, strict=True) if isinstance(e, dict)}
    return [row(e.get("resource") if isinstance(e, dict) else None, rid, now, named)
            for e, rid in zip(entries, ids, strict=True)]


def floor_app(url: str, schema: str = "public"):
    """The floor's app on ``url``'s database (the table made by :func:`floor`). Its
    connections plan without bitmap scans: the table grows by thousands of rows in the create
    phase, and until autovacuum has analyzed it a search was planned as a bitmap scan of all
    of a patient's rows of the code and a sort (3–5 ms instead of 0.03, measured); the index
    scan is what its index is for."""
    from bench.util import pooled_app

    app, state = pooled_app(url, schema, enable_bitmapscan="off")

    def fhir(body: bytes | str, status: int = 200, **headers: str) -> Response:
        return Response(body, status_code=status, media_type=FHIR_JSON, headers=headers)

    async def insert(rows: list[Row]) -> None:
        await state["pool"].execute(INSERT, *(list(col) for col in zip(*rows, strict=True)))

    async def body_of(request: Request) -> dict:
        try:
            return orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise Unreadable("not JSON") from None

    @app.exception_handler(Unreadable)
    async def unreadable(request: Request, exc: Unreadable):
        return fhir(orjson.dumps({"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "invalid", "diagnostics": str(exc)}]}), 400)

    @app.get("/fhir/metadata")
    async def metadata():
        return fhir(b'{"resourceType":"CapabilityStatement","status":"active","kind":"instance",'
                    b'"fhirVersion":"4.0.1","format":["json"]}')

    @app.post("/fhir/")
    async def transaction(request: Request):
        rows = transaction_rows(await body_of(request), datetime.now(UTC).isoformat())
        await insert(rows)
        return fhir(orjson.dumps({"resourceType": "Bundle", "type": "transaction-response",
                                  "entry": [{"response": {
                                      "status": "201 Created", "etag": 'W/"1"',
                                      "location": f"{r[0]}/{r[1]}/_history/1"}} for r in rows]}))

    @app.post("/fhir/{rtype}")
    async def create(rtype: str, request: Request):
        resource = await body_of(request)
        if not isinstance(resource, dict) or resource.get("resourceType") != rtype:
            raise Unreadable(f"POST /{rtype} takes a {rtype}")
        r = row(resource, uuid4(), datetime.now(UTC).isoformat(), {})
        await insert([r])
        return fhir(r[5], 201, Location=f"{rtype}/{r[1]}/_history/1", ETag='W/"1"')

    @app.get("/fhir/{rtype}/{rid}")
    async def read(rtype: str, rid: str):
        doc = None if (key := _uuid(rid)) is None else await state["pool"].fetchval(
            READ, rtype, key)
        return fhir(doc, ETag='W/"1"') if doc is not None else fhir(b"", 404)

    @app.get("/fhir/{rtype}")
    async def search(rtype: str, patient: str = "", code: str = ""):
        key = _uuid(patient.removeprefix("Patient/"))
        docs = [] if key is None else [r[0] for r in await state["pool"].fetch(
            SEARCH, key, code, rtype)]
        return fhir('{"resourceType":"Bundle","type":"searchset","entry":['
                    + ",".join('{"resource":' + d + "}" for d in docs) + "]}")

    return app


@dataclass
class Floor:
    side: Side
    pid: int
    database: str


def database_url(url: str, database: str) -> str:
    """``url`` with another database on the same server."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def floor(url: str, work: Path) -> AsyncIterator[Floor]:
    """The floor on a free port, in a database of its own on ``url``'s server (dropped on
    exit), once it listens."""
    database, port = f"bench_floor_{unique()}", free_port()
    await admin(url, f'CREATE DATABASE "{database}"')
    server = None
    try:
        own = database_url(url, database)
        conn = await asyncpg.connect(asyncpg_dsn(own), timeout=30)
        try:
            await conn.execute(TABLE)
        finally:
            await conn.close()
        server = await lg.start_server(MODE, {"url": own, "schema": "public", "port": port},
                                       work / "floor.log")
        yield Floor(Side("floor", f"http://127.0.0.1:{port}/fhir"), server.pid, database)
    finally:
        if server is not None:
            await server.stop()
        await admin(url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
