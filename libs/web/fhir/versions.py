"""Every version of every FHIR resource a service exposes, written by its projection.

A table ``<name>(resource_type, id, version_id, patient_id, last_updated, doc)``: a version is
written when an event touches the resource and is never updated or deleted, so FHIR read,
``vread``, ``_history``, ``ETag`` and ``as_of`` all read it. Versions are numbered per resource
(1, 2, ...) in the order the projection applies events; a replayed batch writes nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

Changed = tuple[str, str, UUID, datetime, dict]
"""(resource type, id, patient, time of the event, resource without ``meta``)"""


async def create_versions_table(conn: AsyncConnection, table: str) -> None:
    await conn.execute(text(f"""
        CREATE TABLE IF NOT EXISTS {table} (
            resource_type text NOT NULL, id text NOT NULL, version_id integer NOT NULL,
            patient_id uuid NOT NULL, last_updated timestamptz NOT NULL,
            doc jsonb NOT NULL, PRIMARY KEY (resource_type, id, version_id))"""))
    await conn.execute(text(f"""
        CREATE INDEX IF NOT EXISTS {table}_patient
            ON {table} (patient_id, resource_type, last_updated)"""))


Row = tuple[str, str, int, UUID, datetime, dict]
"""(resource type, id, version, patient, time, resource with ``meta``)"""


async def number_versions(conn: AsyncConnection, table: str,
                          changed: Sequence[Changed]) -> list[Row]:
    """The batch's resource versions, numbered after each resource's newest stored version
    (looked up for the resources this batch touched only, by primary key), with ``meta``."""
    if not changed:
        return []
    keys = list({(t, i) for t, i, *_ in changed})
    rows = await conn.execute(text(f"""
        SELECT x.t, x.i, (SELECT max(version_id) FROM {table} f
                           WHERE f.resource_type = x.t AND f.id = x.i)
          FROM unnest(CAST(:t AS text[]), CAST(:i AS text[])) AS x(t, i)"""),
        {"t": [k[0] for k in keys], "i": [k[1] for k in keys]})
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


async def insert_versions(conn: AsyncConnection, table: str, rows: Sequence[Row]) -> int:
    """Store numbered versions; one already stored (a replayed batch) is left as it is."""
    if not rows:
        return 0
    cols = list(zip(*rows, strict=True))
    await conn.execute(text(f"""
        INSERT INTO {table} (resource_type, id, version_id, patient_id, last_updated, doc)
        SELECT t, i, v, p, u, d::jsonb
          FROM unnest(CAST(:t AS text[]), CAST(:i AS text[]), CAST(:v AS int[]),
                      CAST(:p AS uuid[]), CAST(:u AS timestamptz[]),
                      CAST(:d AS text[])) AS x(t, i, v, p, u, d)
        ON CONFLICT DO NOTHING"""),
        {"t": list(cols[0]), "i": list(cols[1]), "v": list(cols[2]),
         "p": list(cols[3]), "u": list(cols[4]), "d": [json.dumps(d) for d in cols[5]]})
    return len(rows)


async def write_versions(conn: AsyncConnection, table: str, changed: Sequence[Changed]) -> int:
    """Number and store the batch's resource versions; returns how many were written."""
    return await insert_versions(conn, table, await number_versions(conn, table, changed))


class VersionReader:
    """Reads of a versions table (raw asyncpg: these are the FHIR API's hot paths)."""

    def __init__(self, engine: AsyncEngine, table: str):
        self.engine, self.table = engine, table

    async def current(self, rtype: str, rid: str,
                      as_of: datetime | None = None) -> tuple[UUID, int, dict] | None:
        """The resource's newest version (at ``as_of``): (patient, version, resource)."""
        async with self.engine.connect() as sa:
            conn = (await sa.get_raw_connection()).driver_connection
            row = await conn.fetchrow(f"""
                SELECT patient_id, version_id, doc::text FROM {self.table}
                 WHERE resource_type = $1 AND id = $2
                   AND ($3::timestamptz IS NULL OR last_updated <= $3)
                 ORDER BY version_id DESC LIMIT 1""", rtype, rid, as_of)
        return (row[0], row[1], json.loads(row[2])) if row else None

    async def patient_of(self, rtype: str, rid: str) -> UUID | None:
        async with self.engine.connect() as sa:
            conn = (await sa.get_raw_connection()).driver_connection
            return await conn.fetchval(
                f"SELECT patient_id FROM {self.table} WHERE resource_type = $1 AND id = $2 "
                "LIMIT 1", rtype, rid)

    async def versions(self, rtype: str, rid: str) -> list[dict]:
        """Every version, newest first."""
        async with self.engine.connect() as sa:
            conn = (await sa.get_raw_connection()).driver_connection
            rows = await conn.fetch(f"""
                SELECT doc::text FROM {self.table} WHERE resource_type = $1 AND id = $2
                 ORDER BY version_id DESC""", rtype, rid)
        return [json.loads(r[0]) for r in rows]

    async def search(self, patient_id: UUID, rtype: str,
                     as_of: datetime | None = None) -> list[dict]:
        """The patient's resources of a type, newest version of each (at ``as_of``)."""
        async with self.engine.connect() as sa:
            conn = (await sa.get_raw_connection()).driver_connection
            rows = await conn.fetch(f"""
                SELECT DISTINCT ON (id) doc::text FROM {self.table}
                 WHERE patient_id = $1 AND resource_type = $2
                   AND ($3::timestamptz IS NULL OR last_updated <= $3)
                 ORDER BY id, version_id DESC""", patient_id, rtype, as_of)
        return [json.loads(r[0]) for r in rows]
