"""The journal records projection's read of a batch's records on real PostgreSQL: a batch of
one patient's events (the usual batch) reads by a plan the connection keeps, and a batch of
several patients' events still folds each record whole."""

from __future__ import annotations

import uuid
from itertools import zip_longest

from libs.events.db import pooled
from services.journal.domain.patients import Patient
from services.journal.projections.records import HELD_ONE, JournalRecordsProjection
from tests.events.test_document_read_models import _apply, _folded, _journal, _record, _same
from tests.journal.support import every_event
from tests.support.plans import assert_plan_kept, one_connection


async def test_a_batch_of_one_patient_reads_its_record_by_a_plan_postgresql_keeps(
        engine, database_url, schema):
    """PostgreSQL costs a generic plan for an ``unnest`` of array parameters as a hundred rows
    and so planned the read again for every batch; one patient's batch reads with values."""
    projection = JournalRecordsProjection(welfare_topic=None)
    async with engine.begin() as conn:
        await projection.setup(conn)
    async with pooled(engine) as conn:   # other patients' records, for the planner's statistics
        await conn.execute(
            "INSERT INTO journal_records SELECT gen_random_uuid(), 1, now(), '{}'::jsonb "
            "FROM generate_series(1, 2000)")
        await conn.execute("ANALYZE journal_records")
    one, two = uuid.uuid4(), uuid.uuid4()
    payloads = {pid: every_event(pid) for pid in (one, two)}
    events = {pid: await _journal(engine, pid, payloads[pid]) for pid in (one, two)}
    async with one_connection(database_url, schema) as alone:
        for envelope in events[one][:12]:   # twelve batches of one event of one patient
            await _apply(alone, projection, [envelope])
        # the rest in batches of both patients' events (one's or two's alone once the other's
        # have run out: batches of one patient too)
        for pair in zip_longest(events[one][12:], events[two]):
            await _apply(alone, projection, [e for e in pair if e is not None])
        alone_after = abs(len(events[one]) - 12 - len(events[two]))
        await assert_plan_kept(alone, HELD_ONE, calls=12 + alone_after)
    for pid in (one, two):
        stored = Patient.model_validate_json((await _record(engine, pid))[1])
        assert _same(stored, _folded(pid, payloads[pid]))
