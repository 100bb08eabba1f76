"""The instants and days of a request's query, parsed once, with plausible bounds (issue 12).

``as_of`` and ``day`` are ISO values within ``libs.kernel.time.EARLIEST`` .. ``LATEST``
(1850-01-01 .. 2199-12-31; an instant also in UTC): anything else is a 422 naming the parameter,
never an overflow further in. An ``as_of`` in the future (within the range) is answered as
asked: nothing is recorded after now, so it is the record as it stands (it is not clamped, so
the answer's ``as_of`` is the one the client sent).

    async def overview(patient_id: UUID, as_of: AsOf = None): ...
    AsOf = as_of_query("Read the record as it stood at this instant ...")
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, Field, create_model

from libs.kernel.time import RANGE_TEXT, Day, Instant
from libs.web.query import QueryModel

AS_OF_HELP = ("an instant with its offset (ISO 8601), " + RANGE_TEXT)


def as_of_query(description: str) -> Any:
    """An optional ``as_of`` query parameter: an ``Instant`` within the plausible range."""
    return Annotated[Instant | None, Query(description=f"{description} ({AS_OF_HELP})")]


def as_of_by_hand(description: str) -> QueryModel:
    """``as_of_query`` read by a dependency itself (``QueryModel``, one validation instead of
    FastAPI's ~15 µs for a declared parameter, present or not): the same value, the same 422 at
    ``("query", "as_of")`` and the same parameter in the OpenAPI document. Its ``as_of``."""
    model: type[BaseModel] = create_model(
        "AsOfQuery", as_of=(Instant | None, Field(None, description=f"{description} "
                                                        f"({AS_OF_HELP})")))
    return QueryModel(model)


def day_query(description: str) -> Any:
    """An optional ``day`` query parameter: a ``Day`` within the plausible range."""
    return Annotated[Day | None, Query(description=f"{description} (a date {RANGE_TEXT})")]


AsOf = as_of_query("the resources as they stood at this instant")
"""The FHIR reads' ``as_of`` (an extension)."""
