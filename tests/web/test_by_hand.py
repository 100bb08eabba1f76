"""Parameters read by hand (``libs.web.by_hand``): the guards' and the write dependency's patient id
and headers mean what they meant declared (the same UUIDs taken, the same 422 for a bad one, the
first of repeated headers) and are documented as FastAPI documented them. Pure: the app is
called in-process, no server."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI, Header, Request

from libs.access.model import Action
from libs.web.by_hand import (
    bounded_header, bounded_header_parameter, path_uuid, string_path_parameter,
)
from libs.web.guard import GUARD_PARAMETERS, PURPOSE, guarded
from libs.web.idempotency import KEY_HEADER, KEY_HELP
from libs.web.write import IF_MATCH_HELP, WRITE_HEADERS, write


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/read/{patient_id}/x")
    async def read(request: Request) -> dict:
        return {"id": str(path_uuid(request, "patient_id")),
                "purpose": request.headers.get(PURPOSE)}

    @app.get("/declared/{patient_id}/x")
    async def declared(patient_id: UUID,
                       purpose: Annotated[str | None, Header(alias=PURPOSE)] = None) -> dict:
        return {"id": str(patient_id), "purpose": purpose}

    @app.get("/bounded/{rtype}")
    async def bounded(request: Request) -> dict:
        return {"purpose": bounded_header(request, PURPOSE, 200)}

    @app.get("/bounded-declared/{rtype}")
    async def bounded_declared(
            rtype: str,
            purpose: Annotated[str | None, Header(alias=PURPOSE, max_length=200)] = None) -> dict:
        return {"purpose": purpose}

    @app.get("/missing")
    async def missing(request: Request) -> dict:
        return {"id": str(path_uuid(request, "patient_id"))}

    return app


@pytest.fixture
async def client():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()),
                                 base_url="http://t") as c:
        yield c


@pytest.mark.parametrize("raw", [
    "0b9c1c1e-4a8e-4a53-9f0c-2d7b6f3a1e55", "0B9C1C1E-4A8E-4A53-9F0C-2D7B6F3A1E55",
    "0b9c1c1e4a8e4a539f0c2d7b6f3a1e55",
])
async def test_a_patient_id_is_taken_as_fastapi_took_it(client, raw):
    read = await client.get(f"/read/{raw}/x", headers={PURPOSE: "TREAT"})
    declared = await client.get(f"/declared/{raw}/x", headers={PURPOSE: "TREAT"})
    assert read.status_code == declared.status_code == 200
    assert read.json() == declared.json() == {"id": "0b9c1c1e-4a8e-4a53-9f0c-2d7b6f3a1e55",
                                              "purpose": "TREAT"}


@pytest.mark.parametrize("raw", ["not-a-uuid", "1234", "0b9c1c1e-4a8e-4a53-9f0c-2d7b6f3a1e5z"])
async def test_a_bad_patient_id_is_fastapis_422_naming_it(client, raw):
    read = await client.get(f"/read/{raw}/x")
    declared = await client.get(f"/declared/{raw}/x")
    assert read.status_code == declared.status_code == 422
    assert read.json() == declared.json()
    assert [e["loc"] for e in read.json()["detail"]] == [["path", "patient_id"]]


async def test_a_path_without_the_id_is_a_422_not_a_500(client):
    r = await client.get("/missing")
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["path", "patient_id"]


async def test_of_repeated_headers_the_first_counts_as_declared(client):
    twice = [(PURPOSE, "TREAT"), (PURPOSE, "ETREAT")]
    pid = "0b9c1c1e-4a8e-4a53-9f0c-2d7b6f3a1e55"
    read = await client.get(f"/read/{pid}/x", headers=twice)
    declared = await client.get(f"/declared/{pid}/x", headers=twice)
    assert read.json()["purpose"] == declared.json()["purpose"] == "TREAT"


@pytest.mark.parametrize("purpose", ["TREAT", "x" * 200, "x" * 201, None])
async def test_a_bounded_header_is_taken_and_refused_as_declared(client, purpose):
    headers = {PURPOSE: purpose} if purpose is not None else {}
    read = await client.get("/bounded/Observation", headers=headers)
    declared = await client.get("/bounded-declared/Observation", headers=headers)
    assert read.status_code == declared.status_code == (422 if purpose == "x" * 201 else 200)
    assert read.json() == declared.json()


def _documented(route, path: str = "/patients/{patient_id}/x") -> list[dict]:
    app = FastAPI()
    app.get(path)(route)
    return sorted(app.openapi()["paths"][path]["get"]["parameters"],
                  key=lambda p: (p["in"], p["name"]))


def test_a_string_path_and_a_bounded_header_are_documented_as_declared():
    async def declared(rtype: str, purpose: Annotated[str | None, Header(
            alias=PURPOSE, max_length=200)] = None): ...

    assert _documented(declared, "/{rtype}") == [bounded_header_parameter(PURPOSE, 200),
                                                 string_path_parameter("rtype")]


def test_the_guards_and_writes_document_what_fastapi_documented_declared():
    async def guard_declared(patient_id: UUID,
                             purpose: Annotated[str | None, Header(alias=PURPOSE)] = None): ...

    async def write_declared(
            patient_id: UUID,
            if_match: Annotated[str | None, Header(alias="If-Match",
                                                   description=IF_MATCH_HELP)] = None,
            purpose: Annotated[str | None, Header(alias=PURPOSE)] = None,
            key: Annotated[str | None, Header(alias=KEY_HEADER, description=KEY_HELP)] = None): ...

    key = lambda p: (p["in"], p["name"])  # noqa: E731
    assert sorted(GUARD_PARAMETERS, key=key) == _documented(guard_declared)
    assert guarded(Action.read, "record").openapi_parameters == GUARD_PARAMETERS
    written = write("record", store=lambda request: None)
    assert sorted(written.openapi_parameters, key=key) == _documented(write_declared)
    assert set(map(key, WRITE_HEADERS)) == {("header", "If-Match"), ("header", PURPOSE),
                                            ("header", KEY_HEADER)}
