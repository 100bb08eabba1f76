"""Which stored versions are superseded, and when (real PostgreSQL): a version written in the
same batch as the one after it is stored superseded at that one's time; the version stored
before a batch is marked at the time of the batch's first; versions numbered with gaps (a
medication list's are its stream's) are marked by the next one written, not by number."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from sqlalchemy import text

from libs.web.fhir.searchable import FhirType
from libs.web.fhir.versions import (
    create_versions_table, insert_versions, versioned, write_versions,
)

TABLE = "versions_fhir"
TYPES = {"DocumentReference": FhirType("notes", ())}
T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def doc(rid: str, status: str) -> dict:
    return {"resourceType": "DocumentReference", "id": rid, "docStatus": status}


@pytest.fixture
async def table(engine):
    async with engine.begin() as conn:
        await create_versions_table(conn, TABLE, TYPES)
    return engine


async def superseded(engine, rid: str) -> dict[int, datetime | None]:
    async with engine.connect() as conn:
        rows = await conn.execute(text(
            f"SELECT version_id, superseded_at FROM {TABLE} WHERE id = :i ORDER BY 1"),
            {"i": rid})
        return dict(rows.all())


async def test_a_version_superseded_in_its_own_batch_is_stored_so(table):
    patient, note, other = uuid4(), "n1", "n2"
    async with table.begin() as conn:        # a note drafted and signed in one append
        await write_versions(conn, TABLE, [
            ("DocumentReference", note, patient, at(0), doc(note, "preliminary")),
            ("DocumentReference", other, patient, at(0), doc(other, "preliminary")),
            ("DocumentReference", note, patient, at(1), doc(note, "final"))], TYPES)
    assert await superseded(table, note) == {1: at(1), 2: None}
    assert await superseded(table, other) == {1: None}
    async with table.begin() as conn:        # corrected later, twice in one batch
        await write_versions(conn, TABLE, [
            ("DocumentReference", note, patient, at(5), doc(note, "amended")),
            ("DocumentReference", note, patient, at(6), doc(note, "amended"))], TYPES)
    assert await superseded(table, note) == {1: at(1), 2: at(5), 3: at(6), 4: None}
    assert await superseded(table, other) == {1: None}


async def test_versions_numbered_with_gaps_are_superseded_by_the_next_written(table):
    patient, rid = uuid4(), "list"
    async with table.begin() as conn:
        await insert_versions(conn, TABLE, [
            versioned("DocumentReference", rid, 5, patient, at(5), doc(rid, "final")),
            versioned("DocumentReference", rid, 3, patient, at(3), doc(rid, "final"))], TYPES)
    assert await superseded(table, rid) == {3: at(5), 5: None}
    async with table.begin() as conn:
        await insert_versions(conn, TABLE, [
            versioned("DocumentReference", rid, 9, patient, at(9), doc(rid, "final")),
            versioned("DocumentReference", rid, 8, patient, at(8), doc(rid, "final"))], TYPES)
    assert await superseded(table, rid) == {3: at(5), 5: at(8), 8: at(9), 9: None}
