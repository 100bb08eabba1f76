"""``access_facts``: every service's local copy of the access facts, projected from
``consent.events`` (DESIGN.md §4). A decision reads one row by primary key, never the network;
a withdrawn consent takes effect as soon as this projection has applied the event.

Tables (in the service's schema):
- ``access_facts(patient_id, events, doc)``: the patient's ``Facts`` as JSON;
- ``access_identities(national_id, patient_id, id_type)``: maps a citizen's login to a patient.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.access.events import PersonRegistered
from libs.access.facts import evolve
from libs.access.model import Facts
from libs.events.db import driver_of, pooled
from libs.events.envelope import Envelope
from libs.events.read_model import Projection
from libs.events.registry import EventPayload

NAME = "access_facts"
FACTS_OF = "(SELECT f.doc::text FROM access_facts f WHERE f.patient_id = {})"
"""A patient's facts as a subquery, ``.format(<a qualified patient id column, or a parameter>)``:
a hot read finds the patient and reads the facts in one statement (``facts_from`` parses them)."""


PARSED_KEPT, PARSED_MAX_CHARS = 1024, 4096
"""Facts texts whose parse is remembered, and the longest remembered: a parse takes about five
times its text's size, so at most ~25 MB (~6 MB for texts of a few relations)."""


def facts_from(raw: str | None, patient_id: UUID) -> Facts:
    """The facts read as ``doc::text`` (``None``: a patient nothing is known of).

    The text is read afresh by every decision; only its parse is remembered, by the text
    itself: the same text is the same facts (``Facts`` is immutable, and time counts only when
    a decision asks ``active(now)``), and changed facts are a text not seen before. Parsing a
    patient's facts was 2 % of the journal API's CPU on FHIR reads (bench/RESULTS.md)."""
    if not raw:
        return Facts.unknown(patient_id)
    return _parsed(raw) if len(raw) <= PARSED_MAX_CHARS else Facts.model_validate_json(raw)


@functools.lru_cache(maxsize=PARSED_KEPT)
def _parsed(raw: str) -> Facts:
    return Facts.model_validate_json(raw)


class AccessFactsProjection(Projection):
    name = NAME

    def __init__(self, topic: str = "consent.events"):
        self.topics = (topic,)

    async def setup(self, conn: AsyncConnection) -> None:
        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS access_facts (
                patient_id uuid PRIMARY KEY, events integer NOT NULL, doc jsonb NOT NULL)"""))
        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS access_identities (
                national_id text PRIMARY KEY, patient_id uuid NOT NULL UNIQUE,
                id_type text NOT NULL)"""))

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(text("TRUNCATE access_facts, access_identities"))

    async def apply_batch(self, conn: AsyncConnection,
                          events: Sequence[tuple[Envelope, EventPayload]]) -> None:
        """Every service applies consent's events here, so the statements go on the driver's
        connection, in the batch's transaction (``driver_of``): no SQLAlchemy work each."""
        mine = [(env, p) for env, p in events if env.patient_id is not None]
        if not mine:
            return
        raw = await driver_of(conn)
        rows = await raw.fetch(
            "SELECT patient_id, events, doc::text FROM access_facts "
            "WHERE patient_id = ANY($1::uuid[]) FOR UPDATE",
            list({env.patient_id for env, _ in mine}))
        state = {r[0]: (r[1], Facts.model_validate_json(r[2])) for r in rows}
        identities = []
        for env, payload in mine:
            n, facts = state.get(env.patient_id, (0, Facts.unknown(env.patient_id)))
            state[env.patient_id] = (n + 1, evolve(facts, payload))
            if isinstance(payload, PersonRegistered):
                identities.append((payload.national_id, env.patient_id, payload.id_type.value))
        if identities:
            await raw.execute("""
                INSERT INTO access_identities
                SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[])
                ON CONFLICT (national_id) DO NOTHING""", *map(list, zip(*identities)))
        await raw.execute("""
            INSERT INTO access_facts (patient_id, events, doc)
            SELECT p, n, d::jsonb FROM unnest($1::uuid[], $2::int[], $3::text[]) AS x(p, n, d)
            ON CONFLICT (patient_id) DO UPDATE SET events = excluded.events, doc = excluded.doc""",
            list(state), [n for n, _ in state.values()],
            [f.model_dump_json() for _, f in state.values()])


class FactsReader:
    """Reads facts for decisions. Unknown patients get empty facts, decided like any other.

    A citizen's login names the same patient for good (``access_identities`` only ever gains
    rows), so the patient id of a national id, once found, is kept in memory (at most
    ``max_identities``, oldest forgotten first) and a page skips that query; an unknown id is
    asked again every time. Facts are read afresh for every decision (only the parse of a text
    seen before is remembered: ``facts_from``): a withdrawn consent counts at once."""

    def __init__(self, engine: AsyncEngine, max_identities: int = 100_000):
        self.engine = engine
        self.max_identities = max_identities
        self._patients: dict[str, UUID] = {}

    async def facts(self, patient_id: UUID) -> Facts:
        async with pooled(self.engine) as conn:
            raw = await conn.fetchval(f"SELECT {FACTS_OF.format('$1')}", patient_id)
        return facts_from(raw, patient_id)

    async def facts_with(self, patient_id: UUID, read_with: str) -> tuple[Facts, str | None]:
        """The facts and, in the same statement, ``read_with``: a scalar subquery of the
        service's own read models about the patient ``$1``, as text (what a write decides on
        besides the facts, e.g. the patient's critical information): one round trip. The
        subquery is the service's code (``CAVE_OF``), never anything a request sent."""
        async with pooled(self.engine) as conn:
            raw, read = await conn.fetchrow(
                f"SELECT {FACTS_OF.format('$1')}, ({read_with})::text", patient_id)
        return facts_from(raw, patient_id), read

    async def patient_for(self, national_id: str) -> UUID | None:
        if (known := self._patients.get(national_id)) is not None:
            return known
        async with pooled(self.engine) as conn:
            found = await conn.fetchval(
                "SELECT patient_id FROM access_identities WHERE national_id = $1", national_id)
        if found is not None:
            if len(self._patients) >= self.max_identities:   # forget the oldest
                del self._patients[next(iter(self._patients))]
            self._patients[national_id] = found
        return found
