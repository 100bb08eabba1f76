"""Reading a read model's JSON document per patient, parsed once per version.

A read model keeps one row per patient with its ``version`` and the folded state as ``doc``. A
reader keeps the documents it parsed last, by version: the query sends the cached version, and
the database sends the document only when the row has moved on, so a list or record that has not
changed is neither sent nor parsed again (parsing was the largest part of a read; bench/RESULTS.md,
journal). Smaller documents read by content rather than by version (an overview's vital signs)
are kept parsed by their text (``ParsedTexts``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from typing import Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.events.db import pooled

M = TypeVar("M", bound=BaseModel)


class ParsedDocs(Generic[M]):
    """``doc``: the document's SQL expression over the row ``r`` (the column itself, or one that
    puts it together: the journal's record with its notes' rows)."""

    def __init__(self, engine: AsyncEngine, table: str, model: type[M], size: int = 2_000,
                 doc: str = "r.doc"):
        self.engine, self.table, self.model, self.size = engine, table, model, size
        self.doc = doc
        self._parsed: OrderedDict[UUID, tuple[int, M]] = OrderedDict()

    def cached_version(self, patient_id: UUID) -> int:
        cached = self._parsed.get(patient_id)
        return cached[0] if cached else -1

    async def get(self, patient_id: UUID) -> tuple[M, int] | None:
        """The patient's document and its version; None without a row."""
        async with pooled(self.engine) as conn:
            row = await conn.fetchrow(f"""
                SELECT r.version, CASE WHEN r.version = $2 THEN NULL ELSE ({self.doc})::text END
                  FROM {self.table} r WHERE r.patient_id = $1""",
                patient_id, self.cached_version(patient_id))
        return None if row is None else self.parsed(patient_id, row[0], row[1])

    def parsed(self, patient_id: UUID, version: int, doc: str | None) -> tuple[M, int]:
        """The document at ``version``: the cached one when ``doc`` was not sent."""
        cached = self._parsed.get(patient_id)
        if doc is None and cached is not None and cached[0] == version:
            self._parsed.move_to_end(patient_id)
            return cached[1], version
        if doc is None:
            raise LookupError(f"{self.table}: no document for version {version}")
        state = self.model.model_validate_json(doc)
        self._parsed[patient_id] = (version, state)
        self._parsed.move_to_end(patient_id)
        while len(self._parsed) > self.size:
            self._parsed.popitem(last=False)
        return state, version


class ParsedTexts(Generic[M]):
    """Immutable models parsed from JSON texts, the texts read last kept parsed by the text
    itself (``lru_cache``): the same text is the same value, so there is nothing to invalidate.
    For documents a read sends every time (an overview's newest vital signs: parsing them was
    ~6 % of the read's CPU, bench/RESULTS.md); a model that can be changed after parsing must
    not be shared this way, so only frozen ones are taken."""

    def __init__(self, model: type[M], size: int = 8_000):
        if not model.model_config.get("frozen"):
            raise TypeError(f"{model.__name__} is not frozen: a parsed one would be shared")
        self.parse: Callable[[str], M] = lru_cache(maxsize=size)(model.model_validate_json)
