"""A stored resource answered as the JSON text it is stored as.

A search page of 50 resources parsed every stored document into a dict (``orjson.loads``) and
encoded it again into the answer: 8 % and 5.5 % of the journal API's CPU in a search
(bench/RESULTS.md). A ``Stored`` keeps the text and goes into the page as an
``orjson.Fragment``, copied as it is. A version stored without its narrative (before they were
stored with one) gets it here, once, and is encoded again.
"""

from __future__ import annotations

from typing import NamedTuple

import orjson

from libs.web.fhir.narrative import narrated


class Stored(NamedTuple):
    """One resource of a page: its type and id (for ``fullUrl``) and its JSON."""

    resource_type: str
    id: str
    json: str | bytes

    def resource(self) -> dict:
        """The resource as a dict, for whoever needs to look inside."""
        return orjson.loads(self.json)

    def fragment(self) -> orjson.Fragment:
        return orjson.Fragment(self.json)


def stored(doc: str, resource_type: str, rid: str, has_narrative: bool) -> Stored:
    """The resource stored as ``doc`` (``has_narrative``: whether its ``text`` is there)."""
    if has_narrative:
        return Stored(resource_type, rid, doc)
    return Stored(resource_type, rid, orjson.dumps(narrated(orjson.loads(doc))))
