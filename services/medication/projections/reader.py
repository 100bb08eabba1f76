"""Reads of the medication read models (raw asyncpg: the current list is the hot path)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import orjson

from sqlalchemy.ext.asyncio import AsyncEngine

from libs.audit.facts_store import FACTS_OF
from libs.events.db import pooled
from libs.events.parsed_docs import ParsedDocs
from libs.web.fhir.versions import VersionReader
from services.medication.domain.state import MedicationList
from services.medication.projections.cave import CaveItem
from services.medication.projections.lists import FHIR_TABLE, LISTS


class ListReader:
    """Reads of the medication read models (raw asyncpg: the current list is the hot path)."""

    def __init__(self, engine: AsyncEngine, cache_size: int = 2_000):
        self.engine = engine
        self.fhir = VersionReader(engine, FHIR_TABLE)
        self.lists = ParsedDocs(engine, LISTS, MedicationList, cache_size)

    async def current(self, patient_id: UUID, now: datetime
                      ) -> tuple[str | None, tuple[int, str | None, MedicationList | None]]:
        """What the list read reads, in one statement: the patient's access facts (as
        ``doc::text``, decided on before any of the rest leaves; ``guarded_with``) and (version,
        the current list as JSON text when still valid at ``now``, else the parsed list);
        version 0 and neither when the patient has no list."""
        async with pooled(self.engine) as conn:
            row = await conn.fetchrow(f"""
                SELECT {FACTS_OF.format("$1")}, l.version,
                       CASE WHEN l.current_until IS NULL OR l.current_until > $2
                            THEN l.current END,
                       CASE WHEN (l.current_until IS NULL OR l.current_until > $2)
                                 OR l.version = $3
                            THEN NULL ELSE l.doc::text END
                  FROM (SELECT 1) AS one
                  LEFT JOIN medication_lists l ON l.patient_id = $1""",
                patient_id, now, self.lists.cached_version(patient_id))
        facts, version, current, doc = row
        if version is None:
            return facts, (0, None, None)
        if current is not None:
            return facts, (version, current, None)
        return facts, (version, None, self.lists.parsed(patient_id, version, doc)[0])

    async def list(self, patient_id: UUID) -> tuple[MedicationList, int] | None:
        return await self.lists.get(patient_id)

    async def cave(self, patient_id: UUID) -> list[CaveItem]:
        async with pooled(self.engine) as conn:
            return cave_from(await conn.fetchval(f"SELECT {CAVE_OF}", patient_id))


CAVE_OF = """(SELECT json_agg(json_build_array(critical_id, category, substance, status)
                          ORDER BY updated_at)::text
                FROM medication_cave WHERE patient_id = $1)"""
"""The critical information of the patient ``$1`` as one JSON value (``cave_from`` reads it):
a checked change reads it with the access facts (``write(read_with=CAVE_OF)``)."""


def cave_from(raw: str | None) -> list[CaveItem]:
    """``CAVE_OF``'s answer as decision support reads it, oldest first."""
    return [CaveItem(UUID(c[0]), *c[1:]) for c in orjson.loads(raw)] if raw else []
