"""Every version of every FHIR resource a service exposes, written by its projection.

A table ``<name>(resource_type, id, version_id, patient_id, last_updated, doc, ...)``: a version
is written when an event touches the resource and its content is never changed or deleted, so
FHIR read, ``vread``, ``_history``, ``ETag`` and ``as_of`` all read it. Versions are numbered per
resource (1, 2, ...) in the order the projection applies events; a replayed batch writes nothing
twice.

Search reads columns stored with each version when it is written (``searchable.py``, from the
service's ``FhirType`` descriptions): ``search_date`` (``-infinity`` when the resource has
none), ``codes`` and ``statuses`` (text arrays), and ``superseded_at``, set in the same
transaction when a newer version of the resource is written (to that version's time). The
current versions are then one range of a partial index in the search's order (which holds the
codes and statuses too, so that a count reads it alone once vacuumed), and the versions
current at ``as_of`` are ``last_updated <= as_of < superseded_at`` (a resource's versions are
written in time order). A table from before these columns gets them at setup. Every
resource read gets its generated narrative (``narrative.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.audit.facts_store import FACTS_OF
from libs.events.db import driver_of, pooled
from libs.web.fhir.narrative import narrated
from libs.web.fhir.search import Cursor, SearchQuery
from libs.web.fhir.searchable import UNDATED, FhirType, search_columns
from libs.web.fhir.stored import Stored, stored

ORDER = 'search_date DESC, id COLLATE "C" DESC'
"""The search's order: newest search date first, then id (bytewise, as Python compares)."""
TOTAL_UP_TO = 1_000
"""A search counts its matches up to this many; above it, ``total`` is left out."""

Changed = tuple[str, str, UUID, datetime, dict]
"""(resource type, id, patient, time of the event, resource without ``meta``)"""


Types = Mapping[str, FhirType]
"""resource type -> how to read its search columns (the service's ``fhir`` package has it)"""


async def create_versions_table(conn: AsyncConnection, table: str,
                                types: Types | None = None) -> None:
    """The table and its indexes. A table from before the search columns gets them (and which
    versions are superseded, from the versions themselves); with ``types``, every version
    without search columns gets them here, so an existing table needs no replay."""
    await conn.execute(text(f"""
        CREATE TABLE IF NOT EXISTS {table} (
            resource_type text NOT NULL, id text NOT NULL, version_id integer NOT NULL,
            patient_id uuid NOT NULL, last_updated timestamptz NOT NULL,
            doc jsonb NOT NULL, PRIMARY KEY (resource_type, id, version_id))"""))
    columns = set((await conn.execute(text("""
        SELECT column_name FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = :t"""), {"t": table})).scalars())
    if not columns >= {"superseded_at", "search_date", "codes", "statuses"}:
        # only then: an ALTER TABLE locks out the table's readers until the setup commits
        await conn.execute(text(f"""
            ALTER TABLE {table}
              ADD COLUMN IF NOT EXISTS superseded_at timestamptz,
              ADD COLUMN IF NOT EXISTS search_date timestamptz NOT NULL DEFAULT '{UNDATED}',
              ADD COLUMN IF NOT EXISTS codes text[],
              ADD COLUMN IF NOT EXISTS statuses text[]"""))
    if "superseded_at" not in columns:       # versions written before there was a superseded_at
        await conn.execute(text(f"""
            UPDATE {table} f SET superseded_at = n.next
              FROM (SELECT resource_type, id, version_id,
                           lead(last_updated) OVER (PARTITION BY resource_type, id
                                                    ORDER BY version_id) AS next
                      FROM {table}) n
             WHERE (f.resource_type, f.id, f.version_id) = (n.resource_type, n.id, n.version_id)
               AND n.next IS NOT NULL"""))
    stale = await _lacks(conn, f"{table}_current", "INCLUDE (codes, statuses)")
    for name, definition in (
            ("patient", "(patient_id, resource_type, last_updated)"),
            # a page of current versions: one range of this index, in the search's order; with
            # the codes and statuses a search filters on, a count reads the index alone (once
            # vacuumed), not the patient's versions and a sort (bench/RESULTS.md)
            ("current", f"(patient_id, resource_type, {ORDER}) INCLUDE (codes, statuses) "
                        "WHERE superseded_at IS NULL"),
            # a page as of an instant: every version in the search's order
            ("as_of", f"(patient_id, resource_type, {ORDER}, last_updated)"),
            # the one current version of a resource, superseded by a new one
            ("open", "(resource_type, id, version_id) WHERE superseded_at IS NULL"),
            ("unindexed", "(resource_type) WHERE codes IS NULL")):
        made = f"{table}_{name}" + ("_next" if stale and name == "current" else "")
        await conn.execute(text(f"CREATE INDEX IF NOT EXISTS {made} ON {table} {definition}"))
    if types is not None:
        await backfill_search_columns(conn, table, types)
    if stale:   # an index from before, replaced last: while the new one is built, reads go
        # on (the build blocks writes only), and the old one's drop locks the table for the
        # rest of this transaction only
        await conn.execute(text(f"DROP INDEX {table}_current"))
        await conn.execute(text(f"ALTER INDEX {table}_current_next RENAME TO {table}_current"))


async def _lacks(conn: AsyncConnection, index: str, having: str) -> bool:
    """Whether ``index`` exists and its definition lacks ``having`` (it is from before)."""
    definition = await conn.scalar(text(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() "
        "AND indexname = :i"), {"i": index})
    return definition is not None and having not in definition


async def backfill_search_columns(conn: AsyncConnection, table: str, types: Types,
                                  batch: int = 2_000) -> int:
    """Give every version without search columns (written before they existed) its own."""
    done = 0
    while True:
        rows = (await conn.execute(text(f"""
            SELECT resource_type, id, version_id, doc::text FROM {table}
             WHERE codes IS NULL LIMIT :n"""), {"n": batch})).all()
        if not rows:
            return done
        columns = [search_columns(types.get(r[0]), orjson.loads(r[3])) for r in rows]
        await conn.execute(text(f"""
            UPDATE {table} f SET search_date = x.s::timestamptz,
                   codes = ARRAY(SELECT jsonb_array_elements_text(x.c::jsonb)),
                   statuses = ARRAY(SELECT jsonb_array_elements_text(x.st::jsonb))
              FROM unnest(CAST(:t AS text[]), CAST(:i AS text[]), CAST(:v AS int[]),
                          CAST(:s AS text[]), CAST(:c AS text[]), CAST(:st AS text[]))
                   AS x(t, i, v, s, c, st)
             WHERE (f.resource_type, f.id, f.version_id) = (x.t, x.i, x.v)"""),
            {"t": [r[0] for r in rows], "i": [r[1] for r in rows], "v": [r[2] for r in rows],
             "s": [c[0] for c in columns], "c": [dumps(c[1]) for c in columns],
             "st": [dumps(c[2]) for c in columns]})
        done += len(rows)


def dumps(value) -> str:
    """JSON text of a stored resource (or its search columns) for a batch write, by orjson:
    stdlib json here was ~5 % of the journal's CPU under device load."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


Row = tuple[str, str, int, UUID, datetime, dict]
"""(resource type, id, version, patient, time, resource with ``meta``)"""


async def number_versions(conn: AsyncConnection, table: str,
                          changed: Sequence[Changed]) -> list[Row]:
    """The batch's resource versions, numbered after each resource's newest stored version
    (looked up for the resources this batch touched only, by primary key), with ``meta``."""
    if not changed:
        return []
    keys = list({(t, i) for t, i, *_ in changed})
    rows = await (await driver_of(conn)).fetch(f"""
        SELECT x.t, x.i, (SELECT max(version_id) FROM {table} f
                           WHERE f.resource_type = x.t AND f.id = x.i)
          FROM unnest($1::text[], $2::text[]) AS x(t, i)""",
        [k[0] for k in keys], [k[1] for k in keys])
    versions = {(r[0], r[1]): r[2] or 0 for r in rows}
    out = []
    for rtype, rid, patient_id, at, doc in changed:
        versions[(rtype, rid)] += 1
        out.append(versioned(rtype, rid, versions[(rtype, rid)], patient_id, at, doc))
    return out


def versioned(rtype: str, rid: str, version: int, patient_id: UUID, at: datetime,
              doc: dict) -> Row:
    """A version numbered by the caller (e.g. a list numbered by its stream's version)."""
    doc["meta"] = {"versionId": str(version), "lastUpdated": at.isoformat()}
    return (rtype, rid, version, patient_id, at, doc)


async def insert_versions(conn: AsyncConnection, table: str, rows: Sequence[Row],
                          types: Types) -> int:
    """Store numbered versions with their search columns and their generated narrative (made
    once here, not at every read: a search page made one per entry each time), and mark the
    versions they follow superseded (at the time of the next version), in the caller's
    transaction (on its driver's connection: a projection's hot statements). A version
    already stored (a replayed batch) is left as it is."""
    if not rows:
        return 0
    cols = list(zip(*rows, strict=True))
    search = [search_columns(types.get(r[0]), r[5]) for r in rows]
    # a version the batch itself supersedes is stored superseded (a note drafted and signed in
    # one append): no update of a row just inserted, no entry in the indexes of current ones
    # (versions need not be consecutive: a medication list's are its stream's)
    by_resource: dict[tuple[str, str], list[tuple[int, datetime]]] = {}
    for rtype, rid, version, _, at, _ in rows:
        by_resource.setdefault((rtype, rid), []).append((version, at))
    after: dict[tuple[str, str, int], datetime] = {}
    for (rtype, rid), versions in by_resource.items():
        versions.sort()
        for (version, _), (_, at) in zip(versions, versions[1:]):
            after[(rtype, rid, version)] = at
    first = {key: versions[0] for key, versions in by_resource.items()}
    raw = await driver_of(conn)
    await raw.execute(f"""
        INSERT INTO {table} (resource_type, id, version_id, patient_id, last_updated, doc,
                             search_date, codes, statuses, superseded_at)
        SELECT t, i, v, p, u, d::jsonb, s::timestamptz,
               ARRAY(SELECT jsonb_array_elements_text(c::jsonb)),
               ARRAY(SELECT jsonb_array_elements_text(st::jsonb)), n
          FROM unnest($1::text[], $2::text[], $3::int[], $4::uuid[], $5::timestamptz[],
                      $6::text[], $7::text[], $8::text[], $9::text[], $10::timestamptz[])
               AS x(t, i, v, p, u, d, s, c, st, n)
        ON CONFLICT DO NOTHING""",
        list(cols[0]), list(cols[1]), list(cols[2]), list(cols[3]), list(cols[4]),
        [dumps(narrated(d)) for d in cols[5]], [c[0] for c in search],
        [dumps(c[1]) for c in search], [dumps(c[2]) for c in search],
        [after.get((r[0], r[1], r[2])) for r in rows])
    # the version stored before the batch's first of a resource: superseded by that one
    # (a first version follows none: every device measurement, a create)
    older = [(k, v) for k, v in first.items() if v[0] > 1]
    if not older:   # (the statement found nothing to mark, at ~1 ms a batch of PostgreSQL's)
        return len(rows)
    await raw.execute(f"""
        UPDATE {table} f SET superseded_at = k.u
          FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[]) AS k(t, i, v, u)
         WHERE f.resource_type = k.t AND f.id = k.i AND f.version_id < k.v
           AND f.superseded_at IS NULL""",
        [k[0] for k, _ in older], [k[1] for k, _ in older], [v[0] for _, v in older],
        [v[1] for _, v in older])
    return len(rows)


async def write_versions(conn: AsyncConnection, table: str, changed: Sequence[Changed],
                         types: Types) -> int:
    """Number and store the batch's resource versions; returns how many were written."""
    return await insert_versions(conn, table, await number_versions(conn, table, changed), types)


class VersionReader:
    """Reads of a versions table (raw asyncpg: these are the FHIR API's hot paths)."""

    def __init__(self, engine: AsyncEngine, table: str):
        self.engine, self.table = engine, table

    async def current(self, rtype: str, rid: str,
                      as_of: datetime | None = None) -> tuple[UUID, int, dict] | None:
        """The resource's newest version (at ``as_of``): (patient, version, resource)."""
        async with pooled(self.engine) as conn:
            row = await conn.fetchrow(f"""
                SELECT patient_id, version_id, doc::text FROM {self.table}
                 WHERE resource_type = $1 AND id = $2
                   AND ($3::timestamptz IS NULL OR last_updated <= $3)
                 ORDER BY version_id DESC LIMIT 1""", rtype, rid, as_of)
        return (row[0], row[1], narrated(orjson.loads(row[2]))) if row else None

    async def current_with_facts(self, rtype: str, rid: str
                                 ) -> tuple[UUID, int, dict, str | None] | None:
        """The resource's newest version and its patient's access facts, in one statement (a
        read by id, the hot path): (patient, version, resource, the facts' JSON or None)."""
        async with pooled(self.engine) as conn:
            row = await conn.fetchrow(f"""
                SELECT v.patient_id, v.version_id, v.doc::text, {FACTS_OF.format("v.patient_id")}
                  FROM {self.table} v WHERE v.resource_type = $1 AND v.id = $2
                 ORDER BY v.version_id DESC LIMIT 1""", rtype, rid)
        return (row[0], row[1], narrated(orjson.loads(row[2])), row[3]) if row else None

    async def patient_of(self, rtype: str, rid: str) -> UUID | None:
        async with pooled(self.engine) as conn:
            return await conn.fetchval(
                f"SELECT patient_id FROM {self.table} WHERE resource_type = $1 AND id = $2 "
                "LIMIT 1", rtype, rid)

    async def versions(self, rtype: str, rid: str) -> list[dict]:
        """Every version, newest first."""
        async with pooled(self.engine) as conn:
            rows = await conn.fetch(f"""
                SELECT doc::text FROM {self.table} WHERE resource_type = $1 AND id = $2
                 ORDER BY version_id DESC""", rtype, rid)
        return [narrated(orjson.loads(r[0])) for r in rows]

    async def search(self, patient_id: UUID, rtype: str,
                     query: SearchQuery) -> tuple[list[Stored], Cursor | None, int | None]:
        """A page of the patient's resources of a type that match ``query`` (the version of
        each current now, or at ``query.as_of``), newest search date first: (resources, the
        cursor after the page's last one when there are more, how many match in all when at
        most ``TOTAL_UP_TO`` do, else ``None``). Filters, order and limit run in SQL on one
        range of an index, so a page costs the same however long the patient's history."""
        return (await self._search(patient_id, rtype, query, with_facts=False))[:3]

    async def search_with_facts(self, patient_id: UUID, rtype: str, query: SearchQuery
                                ) -> tuple[list[Stored], Cursor | None, int | None, str | None]:
        """``search``, and the patient's access facts (JSON, or None) read in the same
        statement as the page (a search by patient, the hot path)."""
        return await self._search(patient_id, rtype, query, with_facts=True)

    async def _search(self, patient_id: UUID, rtype: str, query: SearchQuery, *,
                      with_facts: bool
                      ) -> tuple[list[Stored], Cursor | None, int | None, str | None]:
        statement, args = search_sql(self.table, patient_id, rtype, query, with_facts)
        async with pooled(self.engine) as conn:
            rows = await conn.fetch(statement, *args)
        facts = rows[0][0] if with_facts else None
        head = 1 if with_facts else 0          # [facts], total, then the page's columns
        total = rows[0][head]
        rows = [tuple(r)[head + 1:] for r in rows if r[head + 2] is not None]
        more = len(rows) > query.count
        rows = rows[:query.count]
        after = Cursor(rows[-1][2], rows[-1][1]) if more else None
        return ([stored(r[0], rtype, r[1], r[3]) for r in rows], after,
                total if total <= TOTAL_UP_TO else None, facts)


def page_sql(table: str, patient_id: UUID, rtype: str, query: SearchQuery) -> tuple[str, list]:
    """The statement (asyncpg placeholders) and arguments of a page: (resource, id, search date,
    whether it has its narrative) rows, one more than ``query.count`` when there are more."""
    where, args = _where(patient_id, rtype, query)
    if query.after is not None:
        args += [query.after.date.isoformat() if query.after.date else UNDATED, query.after.id]
        d, i = f"${len(args) - 1}::text::timestamptz", f"${len(args)}::text"
        where += f' AND search_date <= {d} AND (search_date < {d} OR id COLLATE "C" < {i})'
    args += [query.count + 1, query.offset]
    return (f"""
        SELECT doc::text, id,
               CASE WHEN search_date = '{UNDATED}' THEN NULL ELSE search_date END AS after_date,
               doc ? 'text' AS narrated
          FROM {table} WHERE {where}
         ORDER BY {ORDER} LIMIT ${len(args) - 1} OFFSET ${len(args)}""", args)


def search_sql(table: str, patient_id: UUID, rtype: str, query: SearchQuery,
               with_facts: bool) -> tuple[str, list]:
    """A search in one statement: ([the patient's access facts], the count, the page's columns)
    rows, one row with no page columns when nothing matches. The count (``count_sql``, up to
    ``TOTAL_UP_TO`` + 1) runs once, beside the page rather than after it: a statement fewer
    a search, whose round trip (a ``write`` to PostgreSQL's socket and its answer) cost the
    API more than the count itself (bench/RESULTS.md); it reads the range the page reads."""
    page, args = page_sql(table, patient_id, rtype, query)
    counting, _ = count_sql(table, patient_id, rtype, query)   # the page's first arguments
    facts = f"{FACTS_OF.format('$1')}, " if with_facts else ""
    return (f"SELECT {facts}({counting}) AS total, p.* FROM (SELECT 1) one "
            f"LEFT JOIN LATERAL ({page}) p ON true", args)


def count_sql(table: str, patient_id: UUID, rtype: str, query: SearchQuery) -> tuple[str, list]:
    """The statement and arguments that count a search's matches, up to ``TOTAL_UP_TO`` + 1:
    the page's conditions in the page's order, so it reads the range of the index a page reads
    (without the order, a planner with no statistics yet counted through every current
    resource of the type, of every patient: 5-10 ms a search in ``bench/fhir``)."""
    where, args = _where(patient_id, rtype, query)
    return (f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {where} ORDER BY {ORDER} "
            f"LIMIT {TOTAL_UP_TO + 1}) m", args)


def _where(patient_id: UUID, rtype: str, query: SearchQuery) -> tuple[str, list]:
    """The search's conditions (asyncpg placeholders) and their arguments."""
    args: list = [patient_id, rtype]

    def arg(value) -> str:
        args.append(value)
        return f"${len(args)}"

    if query.as_of is None:
        clauses = ["patient_id = $1", "resource_type = $2", "superseded_at IS NULL"]
    else:
        at = arg(query.as_of)
        clauses = ["patient_id = $1", "resource_type = $2", f"last_updated <= {at}",
                   f"(superseded_at IS NULL OR superseded_at > {at})"]
    for op, value in query.dates:
        clauses.append(_date_clause(op, value, arg))
    if query.codes is not None:
        clauses.append(f"codes && {arg(list(query.codes))}::text[]")
    if query.categories is not None:   # categories are among a version's codes
        clauses.append(f"codes && {arg(list(query.categories))}::text[]")
    if query.statuses is not None:
        clauses.append(f"statuses && {arg(list(query.statuses))}::text[]")
    if query.withheld:
        clauses.append(f"id <> ALL({arg(list(query.withheld))}::text[])")
    return " AND ".join(clauses), args


def _date_clause(op: str, value: datetime, arg) -> str:
    """One ``date`` condition: ``eq``/``ne`` compare the day (of the value as given, with the
    resource's date in UTC); an undated resource matches none."""
    dated = f"search_date > '{UNDATED}'"
    if op in ("eq", "ne"):
        start = datetime.combine(value.date(), time(), UTC)
        day = f"search_date >= {arg(start)}"
        if start.date() < date.max:
            day += f" AND search_date < {arg(start + timedelta(days=1))}"
        return f"({day})" if op == "eq" else f"({dated} AND NOT ({day}))"
    sql_op = {"lt": "<", "eb": "<", "le": "<=", "gt": ">", "sa": ">", "ge": ">="}[op]
    return f"({dated} AND search_date {sql_op} {arg(value)})"
