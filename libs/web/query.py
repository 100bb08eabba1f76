"""A route's query parameters read in one validation: ``QueryModel(Model)`` is a dependency
that validates the request's query string against a pydantic model at once.

FastAPI solves each declared query parameter on its own on every request, and (0.163) inspects
the parameter's annotation again each time: a FHIR search's dozen parameters cost ~210 µs of
CPU a request, more than the rest of its routing (``bench/RESULTS.md``). Read here, they cost
one ``model_validate``. What the client sees stays the same:

- values as FastAPI took them: a ``list[...]`` field gets every value of its name, any other
  field the last one; names the model does not know are ignored;
- a bad value is FastAPI's ``RequestValidationError`` with the location ``("query", name)``,
  so the same 422 OperationOutcome;
- the OpenAPI document names the parameters as FastAPI did (``openapi_parameters``, added by
  ``libs.web.subject_doc.document_subject`` to every operation that depends on it).

    SEARCH = QueryModel(SearchParams)
    async def search(rtype: str, q: Annotated[SearchParams, Depends(SEARCH)]): ...
"""

from __future__ import annotations

import typing
from typing import Generic, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def _is_list(annotation: object) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return True
    return any(_is_list(a) for a in typing.get_args(annotation))   # X | None, Annotated[X, ...]


class QueryModel(Generic[M]):
    """A dependency: the request's query string validated as ``model`` (module docstring)."""

    def __init__(self, model: type[M]):
        self.model = model
        fields = model.model_fields
        self._lists = frozenset(f.alias or name for name, f in fields.items()
                                if _is_list(f.annotation))
        schema = model.model_json_schema(mode="validation", by_alias=True)
        if "$defs" in schema:   # a reference would point nowhere in the OpenAPI document
            raise TypeError(f"{model.__name__}: query parameters are scalars or lists of them")
        self.openapi_parameters = tuple(_parameter(name, prop, name in schema.get("required", ()))
                                        for name, prop in schema["properties"].items())

    async def __call__(self, request: Request) -> M:   # async: FastAPI threads a sync one
        query = request.query_params
        values = {k: query.getlist(k) if k in self._lists else query[k] for k in query.keys()}
        try:
            return self.model.model_validate(values)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]
            ) from None


def _parameter(name: str, prop: dict, required: bool) -> dict:
    """One query parameter as FastAPI describes a declared one."""
    schema = {k: v for k, v in prop.items() if not (k == "default" and v is None)}
    param = {"name": name, "in": "query", "required": required, "schema": schema}
    if "description" in prop:
        param["description"] = prop["description"]
    return param
