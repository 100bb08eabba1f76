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

from libs.kernel.time import RANGE_TEXT, Day, Instant

AS_OF_HELP = ("an instant with its offset (ISO 8601), " + RANGE_TEXT)


def as_of_query(description: str) -> Any:
    """An optional ``as_of`` query parameter: an ``Instant`` within the plausible range."""
    return Annotated[Instant | None, Query(description=f"{description} ({AS_OF_HELP})")]


def day_query(description: str) -> Any:
    """An optional ``day`` query parameter: a ``Day`` within the plausible range."""
    return Annotated[Day | None, Query(description=f"{description} (a date {RANGE_TEXT})")]


AsOf = as_of_query("the resources as they stood at this instant")
"""The FHIR reads' ``as_of`` (an extension)."""
