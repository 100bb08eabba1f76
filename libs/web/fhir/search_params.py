"""The query parameters of a FHIR search by patient (``GET /fhir/{type}?patient=...``) and of a
read by id (``as_of``), each read in one validation (``libs/web/query.py``): the same names,
bounds and descriptions as the parameters the routes declared one by one before, so the same
answers and the same OpenAPI document. A service whose search knows more parameters subclasses
``SearchParams``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from pydantic import BaseModel, ConfigDict, Field

from libs.kernel.time import Instant
from libs.web.params import AS_OF_HELP
from libs.web.query import QueryModel

MAX_COUNT, MAX_OFFSET = 500, 10_000


class SearchParams(BaseModel):
    """``patient``, ``date`` (repeatable), ``code``, ``status``, the page's ``_count``,
    ``_offset`` and ``_cursor``, and ``as_of`` (an extension)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    patient: str | None = Field(None, description="Patient/<id>")
    date: list[str] | None = None
    code: str | None = Field(None, description="code or system|code")
    status: str | None = None
    count: int = Field(50, alias="_count", title=" Count", ge=1, le=MAX_COUNT)
    offset: int = Field(0, alias="_offset", title=" Offset", ge=0, le=MAX_OFFSET,
                        description="skip this many (at most 10,000; the next link pages on "
                                    "with _cursor)")
    as_of: Instant | None = Field(None, description="the resources as they stood at this "
                                                    f"instant ({AS_OF_HELP})")
    cursor: str | None = Field(None, alias="_cursor", title=" Cursor", max_length=400,
                               description="where the previous page ended (from its next link)")


SEARCH_PARAMS = QueryModel(SearchParams)
Search = Annotated[SearchParams, Depends(SEARCH_PARAMS)]
"""A search route's parameters: ``async def search(rtype: str, q: Search): ...``"""


class ReadParams(BaseModel):
    """A read by id's ``as_of`` (an extension)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    as_of: Instant | None = Field(None, description="the resource as it stood at this instant "
                                                    f"({AS_OF_HELP})")

