"""Reads of ``journal_records`` (``records.py``): a patient's projected record, the worklist
rows and the FHIR versions."""

from __future__ import annotations

import json
from datetime import datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from libs.audit.facts_store import FACTS_OF
from libs.events.db import pooled
from libs.events.parsed_docs import ParsedDocs, ParsedTexts
from libs.web.fhir.versions import VersionReader
from services.journal.domain.clinical_state import VITALS, Observation
from services.journal.domain.patients import Patient
from services.journal.projections.records import FHIR_TABLE, RECORD_DOC

READ_CACHE = 2_000
# the newest valid observation of each vital sign ($2) of a patient ($1)
_LATEST = """
    SELECT o.doc::text FROM unnest($2::text[]) AS c(code)
     CROSS JOIN LATERAL (
        SELECT doc FROM journal_observations
         WHERE patient_id = $1 AND code = c.code AND status <> 'entered_in_error'
         ORDER BY effective_at DESC LIMIT 1) AS o"""


class RecordReader:
    """Reads of the projected record. The records read last are kept parsed with their version:
    a record still at that version is not sent or parsed again (parsing a large record was the
    biggest part of an overview read; bench/RESULTS.md, journal)."""

    def __init__(self, engine: AsyncEngine, cache_size: int = READ_CACHE):
        self.engine = engine
        self.fhir = VersionReader(engine, FHIR_TABLE)
        self.records = ParsedDocs(engine, "journal_records", Patient, cache_size, RECORD_DOC)
        self.observations = ParsedTexts(Observation, 4 * cache_size)

    async def patient(self, patient_id: UUID) -> tuple[Patient, int] | None:
        return await self.records.get(patient_id)

    async def latest_observations(self, patient_id: UUID) -> list[Observation]:
        """The newest valid observation of each vital sign: one index probe per code, however
        many observations the patient has (``journal_observations_latest``)."""
        async with pooled(self.engine) as conn:
            rows = await conn.fetch(_LATEST, patient_id, list(VITALS))
        return [self.observations.parse(r[0]) for r in rows]

    async def overview(self, patient_id: UUID
                       ) -> tuple[str | None, tuple[Patient, int] | None, list[Observation]]:
        """What the overview reads, in one statement: the patient's access facts (as
        ``doc::text``, decided on before any of the rest leaves), the record (:meth:`patient`:
        sent only when it moved on from the version held parsed) and
        :meth:`latest_observations`: one round trip where there were three."""
        async with pooled(self.engine) as conn:
            row = await conn.fetchrow(f"""
                SELECT {FACTS_OF.format("$1")}, r.version,
                       CASE WHEN r.version = $3 THEN NULL ELSE ({RECORD_DOC})::text END,
                       ARRAY({_LATEST})
                  FROM (SELECT 1) AS one LEFT JOIN journal_records r ON r.patient_id = $1""",
                patient_id, list(VITALS), self.records.cached_version(patient_id))
        facts, version, doc, observations = row
        record = None if version is None else self.records.parsed(patient_id, version, doc)
        return facts, record, [self.observations.parse(o) for o in observations]

    async def device_observations_at(self, patient_id: UUID,
                                     as_of: datetime) -> list[Observation]:
        """The newest device measurement (``welfare.events``) of each vital sign that was in
        the record at ``as_of``: taken in by then (its first FHIR version's time, the welfare
        event's). One probe per code, like :meth:`latest_observations`."""
        async with pooled(self.engine) as conn:
            rows = await conn.fetch(f"""
                SELECT o.doc::text FROM unnest($2::text[]) AS c(code)
                 CROSS JOIN LATERAL (
                    SELECT j.doc FROM journal_observations j
                     WHERE j.patient_id = $1 AND j.code = c.code
                       AND j.status <> 'entered_in_error' AND j.doc->>'device' IS NOT NULL
                       AND EXISTS (SELECT 1 FROM {FHIR_TABLE} f
                                    WHERE f.resource_type = 'Observation'
                                      AND f.id = j.observation_id::text AND f.version_id = 1
                                      AND f.last_updated <= $3)
                     ORDER BY j.effective_at DESC LIMIT 1) AS o""",
                patient_id, list(VITALS), as_of)
        return [Observation.model_validate_json(r[0]) for r in rows]

    async def device_measurements(self, patient_id: UUID, after: datetime | None,
                                  until: datetime | None) -> list[dict]:
        """The device measurements taken into the record in [``after``, ``until``) (either
        open), per device: how many values, of which codes, when measured and when taken in.
        Bounded by the person's devices, however many values they sent."""
        async with pooled(self.engine) as conn:
            rows = await conn.fetch(f"""
                SELECT j.doc->>'device' AS device, count(*) AS n,
                       array_agg(DISTINCT j.code ORDER BY j.code) AS codes,
                       min(j.effective_at) AS first, max(j.effective_at) AS last,
                       max(f.last_updated) AS taken
                  FROM journal_observations j
                  JOIN {FHIR_TABLE} f ON f.resource_type = 'Observation'
                   AND f.id = j.observation_id::text AND f.version_id = 1
                 WHERE j.patient_id = $1 AND j.doc->>'device' IS NOT NULL
                   AND ($2::timestamptz IS NULL OR f.last_updated >= $2)
                   AND ($3::timestamptz IS NULL OR f.last_updated < $3)
                 GROUP BY 1 ORDER BY taken DESC, device""", patient_id, after, until)
        return [dict(r) for r in rows]

    async def worklist(self, unit: str, start: datetime, end: datetime,
                       overdue: bool) -> list[dict]:
        """Open tasks of ``unit`` due in [start, end) (with ``overdue``, also every open task
        due before ``start``), by due time."""
        async with pooled(self.engine) as conn:
            rows = await conn.fetch("""
                SELECT doc::text FROM journal_tasks
                 WHERE unit = $1 AND status = 'requested' AND due_at < $3
                   AND ($4 OR due_at >= $2)
                 ORDER BY due_at, task_id""", unit, start, end, overdue)
        return [json.loads(r[0]) for r in rows]
