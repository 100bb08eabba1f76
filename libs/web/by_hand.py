"""Parameters a dependency reads from the request itself instead of declaring them.

FastAPI solves each declared parameter of each dependency on its own, on every request, and
(0.163) inspects its annotation again each time: the guard's patient id and purpose header, and a
write's patient id and three headers, cost ~10-20 µs apiece on every guarded request
(``bench/RESULTS.md``). Read here, what the client sees stays the same:

- a path id is parsed as FastAPI parses a declared ``UUID`` (pydantic's own validation), and a
  bad one is FastAPI's ``RequestValidationError`` at ``("path", name)``: the same 422;
- a header is the first value of its name, as FastAPI takes a declared ``str | None``;
- ``openapi_parameters`` describe them as FastAPI describes declared ones, and
  ``libs.web.subject_doc`` adds them to every operation whose route depends on the reader.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import StringConstraints, TypeAdapter, ValidationError

_UUID = TypeAdapter(UUID)
_BOUNDED: dict[int, TypeAdapter] = {}


def path_uuid(request: Request, name: str) -> UUID:
    """The path parameter ``name`` as a UUID, or FastAPI's 422 for a missing or bad one."""
    raw = request.path_params.get(name)
    if raw is None:
        raise RequestValidationError([{"type": "missing", "loc": ("path", name),
                                       "msg": "Field required", "input": None}])
    return _validated(_UUID, raw, "path", name)


def bounded_header(request: Request, name: str, max_length: int) -> str | None:
    """The header ``name`` (its first value) or None; longer than ``max_length``, FastAPI's
    422 for a declared ``Header(max_length=...)`` at ``("header", name)``."""
    raw = request.headers.get(name)
    if raw is None or len(raw) <= max_length:
        return raw
    adapter = _BOUNDED.setdefault(max_length, TypeAdapter(
        Annotated[str, StringConstraints(max_length=max_length)]))
    return _validated(adapter, raw, "header", name)


def _validated(adapter: TypeAdapter, raw: str, *loc: str):
    """``raw`` validated by ``adapter``, or FastAPI's 422 with its errors at ``loc``."""
    try:
        return adapter.validate_python(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": (*loc, *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


def string_path_parameter(name: str) -> dict:
    """A path ``str`` as FastAPI documents a declared one."""
    return {"name": name, "in": "path", "required": True,
            "schema": {"type": "string", "title": name.replace("_", " ").title()}}


def bounded_header_parameter(name: str, max_length: int) -> dict:
    """An optional header as FastAPI documents ``Annotated[str | None, Header(alias=name,
    max_length=...)] = None``."""
    return {"name": name, "in": "header", "required": False,
            "schema": {"anyOf": [{"type": "string", "maxLength": max_length},
                                 {"type": "null"}], "title": name}}


def uuid_path_parameter(name: str) -> dict:
    """A path ``UUID`` as FastAPI documents a declared one."""
    return {"name": name, "in": "path", "required": True,
            "schema": {"type": "string", "format": "uuid",
                       "title": name.replace("_", " ").title()}}


def optional_string(name: str, where: str, description: str | None = None,
                    title: str | None = None) -> dict:
    """An optional string header or query parameter as FastAPI documents a declared
    ``Annotated[str | None, Header(alias=name, description=...)] = None``."""
    schema: dict = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    param: dict = {"name": name, "in": where, "required": False}
    if description is not None:
        schema["description"] = param["description"] = description
    schema["title"] = title or name
    param["schema"] = schema
    return param
