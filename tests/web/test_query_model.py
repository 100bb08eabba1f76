"""``QueryModel``: a route's query parameters read in one validation, with FastAPI's meaning of
a query string (a list gets every value of its name, anything else the last one; unknown names
ignored), FastAPI's 422 for a bad value, and the parameters in the OpenAPI document as FastAPI
describes declared ones. Pure: the app is called in-process, no server."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Query
from pydantic import BaseModel, Field

from libs.web.query import QueryModel
from libs.web.subject_doc import document_subject


class Params(BaseModel):
    code: str | None = Field(None, description="code or system|code")
    date: list[str] | None = None
    count: int = Field(50, alias="_count", title=" Count", ge=1, le=500)


PARAMS = QueryModel(Params)


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/read/{rtype}")
    async def read(rtype: str, q: Annotated[Params, Depends(PARAMS)]) -> dict:
        return q.model_dump(by_alias=True)

    @app.get("/declared/{rtype}")
    async def declared(rtype: str,
                       code: Annotated[str | None, Query(description="code or system|code")]
                       = None,
                       date: Annotated[list[str] | None, Query()] = None,
                       count: Annotated[int, Query(alias="_count", ge=1, le=500)] = 50) -> dict:
        return {"code": code, "date": date, "_count": count}

    document_subject(app)
    return app


@pytest.fixture
async def client():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()),
                                 base_url="http://t") as c:
        yield c


@pytest.mark.parametrize("query", [
    "", "code=a", "code=a&code=b", "date=ge2020&date=le2021", "_count=7&unknown=1",
    "count=7", "_count=7&_count=9",
])
async def test_a_query_means_what_it_meant_to_fastapi(client, query):
    read = await client.get(f"/read/Observation?{query}")
    declared = await client.get(f"/declared/Observation?{query}")
    assert read.status_code == declared.status_code == 200
    assert read.json() == declared.json()


@pytest.mark.parametrize("query", ["_count=0", "_count=501", "_count=many"])
async def test_a_bad_value_is_fastapis_422_naming_the_parameter(client, query):
    read = await client.get(f"/read/Observation?{query}")
    declared = await client.get(f"/declared/Observation?{query}")
    assert read.status_code == declared.status_code == 422
    assert [e["loc"] for e in read.json()["detail"]] == [["query", "_count"]]
    assert [e["type"] for e in read.json()["detail"]] == \
        [e["type"] for e in declared.json()["detail"]]


def test_the_openapi_document_names_the_parameters_as_fastapi_did():
    paths = _app().openapi()["paths"]
    read = paths["/read/{rtype}"]["get"]
    declared = paths["/declared/{rtype}"]["get"]

    def params(op):
        return sorted(op["parameters"], key=lambda p: p["name"])
    assert params(read) == params(declared)
    assert "422" in read["responses"]


def test_a_model_with_nested_models_is_refused():
    class Inner(BaseModel):
        x: int

    class Nested(BaseModel):
        inner: Inner | None = None

    with pytest.raises(TypeError):
        QueryModel(Nested)
