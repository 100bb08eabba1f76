"""The caller's headers stay in the OpenAPI document although ``current_subject`` reads them from
the request itself: on every operation that depends on it, however deep, and on no other."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI

from libs.web.guard import CurrentSubject, Subject, current_subject
from libs.web.subject_doc import document_subject, documented_operations
from services.journal.app import create_app

CALLER = {("query", "consistency_token"), ("header", "authorization"), ("header", "X-Acting-For"),
          ("header", "X-Consistency-Token")}


async def _nested(who: Annotated[Subject, Depends(current_subject)]) -> str:
    return "written"


def _params(document: dict, path: str, method: str = "get") -> set[tuple[str, str]]:
    return {(p["in"], p["name"]) for p in document["paths"][path][method].get("parameters", [])}


def test_operations_that_know_the_caller_document_its_headers_and_others_do_not():
    app = FastAPI()

    @app.get("/direct/{n}")
    async def direct(n: int, who: CurrentSubject): ...

    @app.post("/nested")
    async def nested(w: Annotated[str, Depends(_nested)]): ...

    @app.get("/open")
    async def open_(q: str | None = None): ...

    document_subject(app)
    first = app.openapi()
    assert _params(first, "/direct/{n}") == CALLER | {("path", "n")}
    assert _params(first, "/nested", "post") == CALLER
    assert _params(first, "/open") == {("query", "q")}
    assert "422" in first["paths"]["/nested"]["post"]["responses"], "a bad token is a 422"
    assert _params(app.openapi(), "/direct/{n}") == CALLER | {("path", "n")}, "added once only"
    assert sorted((path, method) for path, method, _ in documented_operations(app)) == \
        [("/direct/{n}", "get"), ("/nested", "post")]


def test_the_journal_documents_the_callers_headers_on_its_fhir_reads_and_writes():
    document = create_app().openapi()
    assert CALLER <= _params(document, "/fhir/{rtype}/{rid}")
    assert CALLER <= _params(document, "/fhir/{rtype}", "post")
    assert not CALLER & _params(document, "/fhir/metadata"), "the capability statement is open"
