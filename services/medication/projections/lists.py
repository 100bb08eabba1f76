"""The medication list's read models.

``medication_lists`` (from ``medication.events``), one transaction per batch:
- ``medication_lists(patient_id, version, doc, current, current_until)``: the folded list
  (``MedicationList``) as JSON, and the current list as the text that is sent
  (``views.current_view``; text, not jsonb, so it is not parsed on write or re-ordered), valid
  until the next moment an entry starts or ends (``current_until``). A read of the current list
  is one row sent as it is; after ``current_until`` it is computed from ``doc``.
- ``medication_fhir``: every version of every FHIR resource (``libs/web/fhir/versions.py``).
  The patient's ``List`` gets a version for every event of the stream (once it has an entry),
  numbered by the list's version: the same number the REST API's ``ETag`` carries, so either
  works as ``If-Match``. Versions after a dose given or a warning differ only in ``meta``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.events.db import driver_of
from libs.events.envelope import Envelope
from libs.events.read_model import Projection, uncompressed
from libs.events.registry import EventPayload
from libs.web.fhir.versions import (
    create_versions_table, insert_versions, number_versions, versioned,
)
from services.medication import views
from services.medication.domain.evolve import evolve
from services.medication.domain.state import MedicationList
from services.medication.fhir.resources import resource
from services.medication.fhir.touched import touched
from services.medication.fhir.types import TYPES

LISTS = "medication_lists"
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
        # rewritten at every change, the current list read as it is at every request
        await uncompressed(conn, "medication_lists", "doc", "current")
        await create_versions_table(conn, FHIR_TABLE, TYPES)

    async def reset(self, conn: AsyncConnection) -> None:
        self._parsed.clear()
        self._list_docs.clear()
        await conn.execute(text(f"TRUNCATE medication_lists, {FHIR_TABLE}"))

    def _list_doc(self, lst: MedicationList, payload: EventPayload) -> dict | None:
        rid = str(lst.patient_id)
        previous = self._list_docs.get(lst.patient_id)
        if (previous is None or previous[0] != lst.version - 1
                or ("List", rid) in touched(lst, payload)):
            doc = resource(lst, "List", rid)
        else:
            doc = {k: v for k, v in previous[1].items() if k != "meta"}
        if doc is not None:
            self._list_docs[lst.patient_id] = (lst.version, doc)
            self._list_docs.move_to_end(lst.patient_id)
            while len(self._list_docs) > self._cache_size:
                self._list_docs.popitem(last=False)
        return doc

    def _list(self, patient_id: UUID, doc: str | None) -> MedicationList:
        """The list as read: ``None`` when PostgreSQL found it at the version this process
        holds it parsed at (``apply_batch``), else its document."""
        if doc is None:
            return self._parsed[patient_id][1]
        return MedicationList.model_validate_json(doc)

    async def apply_batch(self, conn: AsyncConnection,
                          events: Sequence[tuple[Envelope, EventPayload]]) -> None:
        mine = [(env, p) for env, p in events if env.patient_id is not None]
        if not mine:
            return
        patients = list({env.patient_id for env, _ in mine})
        # a list this process holds parsed at the stored version is not sent
        raw = await driver_of(conn)   # the hot statements on the driver, in the transaction
        rows = await raw.fetch("""
            SELECT l.patient_id, l.version, CASE WHEN l.version = h.v THEN NULL
                                                 ELSE l.doc::text END
              FROM medication_lists l
              JOIN unnest($1::uuid[], $2::int[]) AS h(p, v) ON h.p = l.patient_id
               FOR UPDATE OF l""", patients, [self._parsed.get(p, (None,))[0] for p in patients])
        state: dict[UUID, tuple[datetime | None, MedicationList]] = {
            r[0]: (None, self._list(r[0], r[2])) for r in rows}
        changed: list[tuple] = []
        lists: list[tuple] = []
        for env, payload in mine:
            _, lst = state.get(env.patient_id, (None, MedicationList.empty(env.patient_id)))
            lst = evolve(lst, payload)
            state[env.patient_id] = (env.recorded_at, lst)
            for rtype, rid in touched(lst, payload):
                if rtype != "List" and (doc := resource(lst, rtype, str(rid))) is not None:
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
        await raw.execute("""
            INSERT INTO medication_lists (patient_id, version, updated_at, doc, current,
                                          current_until)
            SELECT p, v, u, d::jsonb, c, t
              FROM unnest($1::uuid[], $2::int[], $3::timestamptz[], $4::text[], $5::text[],
                          $6::timestamptz[]) AS x(p, v, u, d, c, t)
            ON CONFLICT (patient_id) DO UPDATE
               SET version = excluded.version, updated_at = excluded.updated_at,
                   doc = excluded.doc, current = excluded.current,
                   current_until = excluded.current_until""",
            ids, versions, times, docs, currents, untils)
        await insert_versions(conn, FHIR_TABLE,
                              [*await number_versions(conn, FHIR_TABLE, changed), *lists], TYPES)
        for patient_id, (_, lst) in state.items():
            self._parsed[patient_id] = (lst.version, lst)
            self._parsed.move_to_end(patient_id)
        while len(self._parsed) > self._cache_size:
            self._parsed.popitem(last=False)
