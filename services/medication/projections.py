"""The medication service's read models.

``medication_lists`` (from ``medication.events``), one transaction per batch:
- ``medication_lists(patient_id, version, doc, current, current_until)``: the folded list
  (``MedicationList``) as JSON, and the current list as the text that is sent
  (``views.current_view``; text, not jsonb, so it is not parsed on write or re-ordered), valid
  until the next moment an entry starts or ends (``current_until``). A read of the current list
  is one row sent as it is; after ``current_until`` it is computed from ``doc``.
- ``medication_fhir``: every version of every FHIR resource (``libs/events/fhir_versions.py``).
  The patient's ``List`` gets a version for every event of the stream (once it has an entry),
  numbered by the list's version: the same number the REST API's ``ETag`` carries, so either
  works as ``If-Match``. Versions after a dose given or a warning differ only in ``meta``.

``medication_cave`` (from ``journal.events``): the patient's critical information (CAVE) as the
journal records it, for decision support. It applies every journal event (most change nothing
here), so a client that registered a CAVE in the journal can send the journal's consistency
token with its next order and be checked against it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.events.envelope import Envelope
from libs.events.fhir_versions import (
    VersionReader,
    create_versions_table,
    insert_versions,
    number_versions,
    versioned,
)
from libs.events.parsed_docs import ParsedDocs
from libs.events.projection import Projection
from libs.events.projections_index import register_projection
from libs.events.registry import EventPayload
from services.journal.domain import events as journal
from services.medication import fhir, views
from services.medication.domain.evolve import evolve
from services.medication.domain.state import MedicationList

LISTS = "medication_lists"
CAVE = "medication_cave"
FHIR_TABLE = "medication_fhir"
PARSED_CACHE = 5_000


class MedicationListsProjection(Projection):
    name = LISTS

    def __init__(self, topic: str = "medication.events", cache_size: int = PARSED_CACHE):
        self.topics = (topic,)
        # lists this process last wrote, parsed, by version: a row still at that version is
        # not parsed again (a list another replica wrote has another version)
        self._parsed: OrderedDict[UUID, tuple[int, MedicationList]] = OrderedDict()
        # the List resource last built per patient, by the list version it was built at
        self._list_docs: OrderedDict[UUID, tuple[int, dict]] = OrderedDict()
        self._cache_size = cache_size

    async def setup(self, conn: AsyncConnection) -> None:
        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS medication_lists (
                patient_id uuid PRIMARY KEY, version integer NOT NULL,
                updated_at timestamptz NOT NULL, doc jsonb NOT NULL,
                current text NOT NULL, current_until timestamptz)"""))
        await create_versions_table(conn, FHIR_TABLE)

    async def reset(self, conn: AsyncConnection) -> None:
        self._parsed.clear()
        self._list_docs.clear()
        await conn.execute(text(f"TRUNCATE medication_lists, {FHIR_TABLE}"))

    def _list_doc(self, lst: MedicationList, payload: EventPayload) -> dict | None:
        rid = str(lst.patient_id)
        previous = self._list_docs.get(lst.patient_id)
        if (previous is None or previous[0] != lst.version - 1
                or ("List", rid) in fhir.touched(lst, payload)):
            doc = fhir.resource(lst, "List", rid)
        else:
            doc = {k: v for k, v in previous[1].items() if k != "meta"}
        if doc is not None:
            self._list_docs[lst.patient_id] = (lst.version, doc)
            self._list_docs.move_to_end(lst.patient_id)
            while len(self._list_docs) > self._cache_size:
                self._list_docs.popitem(last=False)
        return doc

    def _list(self, patient_id: UUID, version: int, doc: str) -> MedicationList:
        cached = self._parsed.get(patient_id)
        if cached is not None and cached[0] == version:
            return cached[1]
        return MedicationList.model_validate_json(doc)

    async def apply_batch(self, conn: AsyncConnection,
                          events: Sequence[tuple[Envelope, EventPayload]]) -> None:
        mine = [(env, p) for env, p in events if env.patient_id is not None]
        if not mine:
            return
        patients = list({env.patient_id for env, _ in mine})
        rows = await conn.execute(text(
            "SELECT patient_id, version, doc::text FROM medication_lists "
            "WHERE patient_id = ANY(:ids) FOR UPDATE"), {"ids": patients})
        state: dict[UUID, tuple[datetime | None, MedicationList]] = {
            r[0]: (None, self._list(r[0], r[1], r[2])) for r in rows}
        changed: list[tuple] = []
        lists: list[tuple] = []
        for env, payload in mine:
            _, lst = state.get(env.patient_id, (None, MedicationList.empty(env.patient_id)))
            lst = evolve(lst, payload)
            state[env.patient_id] = (env.recorded_at, lst)
            for rtype, rid in fhir.touched(lst, payload):
                if rtype != "List" and (doc := fhir.resource(lst, rtype, str(rid))) is not None:
                    changed.append((rtype, str(rid), env.patient_id, env.recorded_at, doc))
            # the List gets a version for every event, numbered by the list's version, so its
            # ETag is the REST API's and works as If-Match for both; one the event did not
            # change is the previous version's content (building it was 11 % of an order)
            doc = self._list_doc(lst, payload)
            if doc is not None:
                lists.append(versioned("List", str(lst.patient_id), lst.version,
                                       env.patient_id, env.recorded_at, doc))
        ids, versions, times, docs, currents, untils = [], [], [], [], [], []
        for patient_id, (at, lst) in state.items():
            if at is None:
                continue
            ids.append(patient_id)
            versions.append(lst.version)
            times.append(at)
            docs.append(lst.model_dump_json())
            currents.append(views.to_json(views.current_view(lst, at)))
            untils.append(views.valid_until(lst, at))
        await conn.execute(text("""
            INSERT INTO medication_lists (patient_id, version, updated_at, doc, current,
                                          current_until)
            SELECT p, v, u, d::jsonb, c, t
              FROM unnest(CAST(:p AS uuid[]), CAST(:v AS int[]), CAST(:u AS timestamptz[]),
                          CAST(:d AS text[]), CAST(:c AS text[]), CAST(:t AS timestamptz[]))
                   AS x(p, v, u, d, c, t)
            ON CONFLICT (patient_id) DO UPDATE
               SET version = excluded.version, updated_at = excluded.updated_at,
                   doc = excluded.doc, current = excluded.current,
                   current_until = excluded.current_until"""),
            {"p": ids, "v": versions, "u": times, "d": docs, "c": currents, "t": untils})
        await insert_versions(conn, FHIR_TABLE,
                              [*await number_versions(conn, FHIR_TABLE, changed), *lists])
        for patient_id, (_, lst) in state.items():
            self._parsed[patient_id] = (lst.version, lst)
            self._parsed.move_to_end(patient_id)
        while len(self._parsed) > self._cache_size:
            self._parsed.popitem(last=False)


@dataclass(frozen=True)
class CaveItem:
    """Critical information as decision support reads it (``CaveEntry``)."""

    critical_id: UUID
    category: str
    substance: str | None
    status: str


_CAVE_STATUS = {journal.CriticalInfoVerified: "verified", journal.CriticalInfoRefuted: "refuted",
                journal.CriticalInfoRemoved: "removed"}


class CaveProjection(Projection):
    name = CAVE

    def __init__(self, topic: str = "journal.events"):
        self.topics = (topic,)

    async def setup(self, conn: AsyncConnection) -> None:
        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS medication_cave (
                critical_id uuid PRIMARY KEY, patient_id uuid NOT NULL, category text NOT NULL,
                substance text, status text NOT NULL, updated_at timestamptz NOT NULL)"""))
        await conn.execute(text(
            "CREATE INDEX IF NOT EXISTS medication_cave_patient ON medication_cave (patient_id)"))

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(text("TRUNCATE medication_cave"))

    async def apply_batch(self, conn: AsyncConnection,
                          events: Sequence[tuple[Envelope, EventPayload]]) -> None:
        for env, p in events:
            if env.patient_id is None:
                continue
            if isinstance(p, journal.CriticalInfoRegistered):
                await conn.execute(text("""
                    INSERT INTO medication_cave (critical_id, patient_id, category, substance,
                                                 status, updated_at)
                    VALUES (:c, :p, :cat, :s, 'registered', :t)
                    ON CONFLICT (critical_id) DO NOTHING"""),
                    {"c": p.critical_id, "p": env.patient_id, "cat": p.category,
                     "s": p.substance, "t": env.recorded_at})
            elif (status := _CAVE_STATUS.get(type(p))) is not None:
                await conn.execute(text(
                    "UPDATE medication_cave SET status = :s, updated_at = :t "
                    "WHERE critical_id = :c"),
                    {"s": status, "t": env.recorded_at, "c": p.critical_id})


class ListReader:
    """Reads of the medication read models (raw asyncpg: the current list is the hot path)."""

    def __init__(self, engine: AsyncEngine, cache_size: int = 2_000):
        self.engine = engine
        self.fhir = VersionReader(engine, FHIR_TABLE)
        self.lists = ParsedDocs(engine, LISTS, MedicationList, cache_size)

    async def current(self, patient_id: UUID, now: datetime) -> tuple[int, str | None,
                                                                        MedicationList | None]:
        """(version, the current list as JSON text when still valid at ``now``, else the
        parsed list); version 0 and neither when the patient has no list."""
        async with self.engine.connect() as sa:
            conn = (await sa.get_raw_connection()).driver_connection
            row = await conn.fetchrow("""
                SELECT version,
                       CASE WHEN current_until IS NULL OR current_until > $2
                            THEN current END,
                       CASE WHEN (current_until IS NULL OR current_until > $2) OR version = $3
                            THEN NULL ELSE doc::text END
                  FROM medication_lists WHERE patient_id = $1""",
                patient_id, now, self.lists.cached_version(patient_id))
        if row is None:
            return 0, None, None
        version, current, doc = row
        if current is not None:
            return version, current, None
        return version, None, self.lists.parsed(patient_id, version, doc)[0]

    async def list(self, patient_id: UUID) -> tuple[MedicationList, int] | None:
        return await self.lists.get(patient_id)

    async def cave(self, patient_id: UUID) -> list[CaveItem]:
        async with self.engine.connect() as sa:
            conn = (await sa.get_raw_connection()).driver_connection
            rows = await conn.fetch(
                "SELECT critical_id, category, substance, status FROM medication_cave "
                "WHERE patient_id = $1 ORDER BY updated_at", patient_id)
        return [CaveItem(*r) for r in rows]


register_projection(LISTS)(MedicationListsProjection)
register_projection(CAVE)(CaveProjection)
