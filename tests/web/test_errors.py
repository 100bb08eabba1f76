"""OperationOutcome errors: readable, correct status, and never echoing input or a traceback."""

from __future__ import annotations

import io
import json
import logging
import uuid
from datetime import date

import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException, Response
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeout

from libs.config import Settings
from libs.events.consistency import HEADER, ConsistencyToken, NotCaughtUp
from libs.events.envelope import new_event_id
from libs.events.store import ConcurrencyError
from libs.telemetry import MASK, NATIVE_TELEMETRY_OFF, setup_telemetry, shutdown
from libs.web import FHIR_JSON, consistent_read, install_error_handlers, set_consistency_token

FNR = "01017012345"


class Patient(BaseModel):
    name: str
    national_id: str = Field(pattern=r"^\d{11}$")
    birth_date: date
    municipality: str = "0301"

    @field_validator("municipality")
    @classmethod
    def known(cls, v: str) -> str:
        if v != "0301":
            raise ValueError(f"{v} is not a known municipality")  # echoes its input
        return v


def make_app() -> FastAPI:
    app = FastAPI(telemetry=NATIVE_TELEMETRY_OFF)
    install_error_handlers(app)

    @app.post("/patients")
    async def register(p: Patient):
        return {"ok": True}

    @app.get("/items/{n}")
    async def item(n: int):
        return {"n": n}

    @app.get("/boom")
    async def boom():
        raise RuntimeError(f"database said no for {FNR}")

    @app.get("/bad-model")
    async def bad_model():
        row = {"name": " ".join(["Kari", "Nordmann"]), "national_id": FNR + "9",
               "birth_date": "yester" + "day"}
        Patient(**row)  # data that breaks a model deep inside a handler

    @app.get("/conflict")
    async def conflict():
        raise ConcurrencyError("medication-1", 3, 5)

    @app.get("/race")
    async def race():
        raise ConcurrencyError("medication-1", 3, -1)

    @app.get("/forbidden")
    async def forbidden():
        raise HTTPException(403, "you have no care relation to this patient")

    @app.get("/login")
    async def login():
        raise HTTPException(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})

    @app.get("/lagging")
    async def lagging():
        raise NotCaughtUp("bank_balances", 0.5)

    @app.get("/busy")
    async def busy():
        raise PoolTimeout("QueuePool limit of size 5 overflow 10 reached")

    @app.post("/write")
    async def write(response: Response):
        set_consistency_token(response, ConsistencyToken(uuid.UUID(int=7)))
        return {}

    return app


@pytest.fixture
async def client():
    # raise_app_exceptions stays on: an unhandled error must not escape to the server
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app()),
                                 base_url="http://test") as c:
        yield c


def issue(r: httpx.Response) -> dict:
    assert r.headers["content-type"].startswith(FHIR_JSON)
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    assert all(i["severity"] == "error" for i in body["issue"])
    return body["issue"][0]


async def test_validation_error_lists_fields_without_echoing_values(client):
    r = await client.post("/patients", json={
        "name": 12345, "national_id": f"{FNR}X", "birth_date": f"born {FNR}",
        "municipality": "Gotham-4242"})
    assert r.status_code == 422
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    diags = [i["diagnostics"] for i in body["issue"]]
    assert all(i["code"] == "invalid" for i in body["issue"])
    assert any(d.startswith("body.name: ") for d in diags), diags
    assert any(d.startswith("body.national_id: String should match pattern") for d in diags)
    assert any(d.startswith("body.birth_date: ") for d in diags)
    assert "body.municipality: Value error, <input> is not a known municipality" in diags
    for value in (FNR, "12345", "Gotham-4242", "born"):
        assert value not in r.text, value


async def test_missing_body_fields_and_bad_path_parameters(client):
    r = await client.post("/patients", json={})
    assert r.status_code == 422
    assert {i["diagnostics"] for i in r.json()["issue"]} >= {
        "body.name: Field required", "body.national_id: Field required"}
    r = await client.get(f"/items/{FNR}x")
    assert r.status_code == 422 and FNR not in r.text
    assert issue(r)["diagnostics"].startswith("path.n: ")


async def test_malformed_json_is_a_readable_422(client):
    r = await client.post("/patients", content=b'{"national_id": "' + FNR.encode() + b'",',
                          headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert issue(r)["diagnostics"].startswith("body: the request body is not valid JSON")
    assert FNR not in r.text


@pytest.mark.parametrize("body", [
    b'{"name": "Kari\\u0000", "national_id": "x", "birth_date": "2000-01-01"}',
    b'{"name": "Kari\x00"}',
    b'{"name": "\\\\\\u0000"}',          # an escaped backslash, then an escaped NUL
])
async def test_a_nul_character_is_a_422_before_it_reaches_the_database(client, body):
    """PostgreSQL cannot store U+0000 in text or jsonb: an append would fail with a 500."""
    r = await client.post("/patients", content=body, headers={"content-type":
                                                               "application/json"})
    assert r.status_code == 422
    assert issue(r)["diagnostics"] == "Text must not contain the NUL character (U+0000)."
    r = await client.get("/items/1", params={"q": "a\x00"})
    assert r.status_code == 422
    r = await client.get("/items/1", headers={"X-Purpose-Of-Use": "a\x00"})
    assert r.status_code == 422


async def test_the_text_backslash_u0000_is_not_a_nul(client):
    r = await client.post("/patients", json={"name": "C:\\u0000", "national_id": FNR,
                                             "birth_date": "2000-01-01"})
    assert r.status_code == 200, r.text


async def test_unhandled_error_is_a_500_without_traceback_and_logged_redacted(client, caplog):
    with caplog.at_level(logging.ERROR, logger="libs.web.errors"):
        r = await client.get("/boom")
    assert r.status_code == 500
    i = issue(r)
    assert i["code"] == "exception" and i["diagnostics"].startswith("internal error")
    for leak in ("Traceback", "RuntimeError", "database said no", FNR, "test_errors.py"):
        assert leak not in r.text
    [record] = [rec for rec in caplog.records if rec.name == "libs.web.errors"]
    logged = record.getMessage()
    assert "GET /boom" in logged and "Traceback" in logged
    assert f"database said no for {MASK}" in logged and FNR not in caplog.text


async def test_internal_validation_error_logs_locations_not_values(client, caplog):
    with caplog.at_level(logging.ERROR, logger="libs.web.errors"):
        r = await client.get("/bad-model")
    assert r.status_code == 500 and "Kari" not in r.text
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "national_id (string_pattern_mismatch)" in logged
    assert "birth_date" in logged
    for leak in ("Kari Nordmann", FNR, "yesterday"):
        assert leak not in logged


async def test_unhandled_error_is_recorded_on_the_server_span_without_input_values():
    spans = InMemorySpanExporter()
    app = make_app()
    setup_telemetry(Settings(otel_exporter="none"), "test-errors", app=app,
                    span_exporters=[spans], log_stream=io.StringIO())
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://test") as c:
            r = await c.get("/bad-model")
    finally:
        shutdown()
    assert r.status_code == 500
    [server] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert server.status.status_code == StatusCode.ERROR
    [event] = [e for e in server.events if e.name == "exception"]
    assert event.attributes["exception.type"] == "ValidationError"
    assert "national_id (string_pattern_mismatch)" in event.attributes["exception.stacktrace"]
    trace_id = format(server.context.trace_id, "032x")
    assert trace_id in issue(r)["diagnostics"]
    exported = json.dumps([json.loads(s.to_json()) for s in spans.get_finished_spans()])
    for leak in ("Kari Nordmann", FNR, "yesterday"):
        assert leak not in exported


async def test_concurrency_error_is_a_409_naming_the_current_version(client):
    r = await client.get("/conflict")
    assert r.status_code == 409
    i = issue(r)
    assert i["code"] == "conflict" and "now at version 5" in i["diagnostics"]
    r = await client.get("/race")
    assert r.status_code == 409 and "at the same time" in issue(r)["diagnostics"]


async def test_http_exceptions_keep_status_headers_and_get_fhir_codes(client):
    r = await client.get("/forbidden")
    assert (r.status_code, issue(r)["code"]) == (403, "forbidden")
    assert issue(r)["diagnostics"] == "you have no care relation to this patient"
    r = await client.get("/login")
    assert (r.status_code, issue(r)["code"]) == (401, "login")
    assert r.headers["www-authenticate"] == "Bearer"
    r = await client.get(f"/no/such/route/{FNR}")
    assert (r.status_code, issue(r)["code"]) == (404, "not-found")
    assert FNR not in r.text
    r = await client.delete("/boom")
    assert (r.status_code, issue(r)["code"]) == (405, "not-supported")


async def test_not_caught_up_is_a_503_with_retry_after(client):
    r = await client.get("/lagging")
    assert r.status_code == 503
    assert r.headers["retry-after"] == "1"
    i = issue(r)
    assert i["code"] == "transient" and "not yet caught up" in i["diagnostics"]


async def test_no_free_database_connection_is_a_503_to_retry_not_a_500(client):
    r = await client.get("/busy")
    assert (r.status_code, r.headers["retry-after"]) == (503, "1")
    i = issue(r)
    assert i["code"] == "transient" and "nothing was changed" in i["diagnostics"]
    assert "QueuePool" not in r.text


async def test_write_helper_sets_the_token_header(client):
    r = await client.post("/write")
    assert ConsistencyToken.decode(r.headers[HEADER]) == ConsistencyToken(uuid.UUID(int=7))


# -- the read-your-writes dependency, on a real database -------------------------------------------
async def test_consistent_read_waits_for_the_token_then_answers(engine):
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/things")
    async def things(token=Depends(consistent_read("things", lambda: engine, wait_s=0.3))):
        return {"token": str(token) if token else None}

    applied, pending = ConsistencyToken(new_event_id()), ConsistencyToken(new_event_id())
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO projection_events (projection, event_id) "
                                "VALUES ('things', :e)"), {"e": applied.event_id})

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        r = await client.get("/things")
        assert (r.status_code, r.json()) == (200, {"token": None})
        r = await client.get("/things", headers={HEADER: applied.encode()})
        assert (r.status_code, r.json()) == (200, {"token": applied.encode()})
        r = await client.get("/things", params={"consistency_token": applied.encode()})
        assert r.status_code == 200
        r = await client.get("/things", headers={HEADER: pending.encode()})
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert issue(r)["code"] == "transient"
        assert "things read model has not yet caught up" in issue(r)["diagnostics"]
        r = await client.get("/things", params={"consistency_token": "not-a-token"})
        assert r.status_code == 422
        assert issue(r)["diagnostics"].startswith(f"{HEADER}: consistency token is")
    params = {p["name"]: p["in"] for p in app.openapi()["paths"]["/things"]["get"]["parameters"]}
    assert params == {HEADER: "header", "consistency_token": "query"}
