"""The journal's record keeps its notes in rows of their own (``journal_notes``), on real
PostgreSQL: a note written writes its row and the record's version, never the record's document
again; the record read is the whole fold, notes in their order; a record stored before notes had
rows (its document holding them) is read as it is and has its notes moved out at its next
write."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import text

from libs.events.registry import Registry
from libs.events.store import EventContext, EventStore
from services.journal import contract
from services.journal.domain import clinical as c
from services.journal.domain.patients import Patient
from services.journal.projections.reader import RecordReader
from services.journal.projections.records import JournalRecordsProjection
from tests.events.test_relay_projection import ACTOR
from tests.events.test_document_read_models import _apply, _folded, _journal, _record, _same
from tests.journal.support import HISTORY_NURSE_HPR, HISTORY_UNIT, NOW, every_event

NURSE = c.Clinician(hpr=HISTORY_NURSE_HPR, unit=HISTORY_UNIT)


async def _row(engine, pid: uuid.UUID) -> tuple[int, str, int | None, list[uuid.UUID]]:
    """The record's row as stored (version, its own document, the id of the document's value
    stored out of line: a new one each time it is written) and its notes' ids in order."""
    async with engine.connect() as conn:
        version, doc, value = (await conn.execute(text(
            "SELECT version, doc::text, pg_column_toast_chunk_id(doc)::bigint "
            "FROM journal_records WHERE patient_id = :p"), {"p": pid})).one()
        notes = (await conn.execute(text(
            "SELECT note_id FROM journal_notes WHERE patient_id = :p ORDER BY position"),
            {"p": pid})).scalars().all()
    return version, doc, value, list(notes)


def _correction(p: Patient) -> list:
    """A correction of the patient's first signed note (allowed after death too)."""
    note = next(n for n in p.notes if n.status == "signed")
    return c.correct_note(p, c.CorrectNote(note_id=note.note_id, text=note.text + " Rettet.",
                                           reason="skrivefeil"), NURSE, NOW)


async def _then(engine, pid: uuid.UUID, after: int, more: list) -> list:
    """``more`` appended to the patient's stream of ``after`` events: their stored envelopes."""
    store = EventStore(engine, Registry.of(contract))
    await store.append(contract.stream_of(pid), after, more,
                       EventContext(patient_id=pid, actor=ACTOR))
    return (await store.load(contract.stream_of(pid)))[after:]


async def _setup(engine) -> JournalRecordsProjection:
    projection = JournalRecordsProjection(welfare_topic=None)
    async with engine.begin() as conn:
        await projection.setup(conn)
    return projection


async def test_a_note_written_leaves_the_record_document_as_it_was(engine):
    pid = uuid.uuid4()
    events = every_event(pid)
    projection = await _setup(engine)
    await _apply(engine, projection, await _journal(engine, pid, events))
    version, doc, value, notes = await _row(engine, pid)
    folded = _folded(pid, events)
    assert "notes" not in json.loads(doc) and value is not None   # stored out of line
    assert notes == [n.note_id for n in folded.notes] and len(notes) >= 3

    more = _correction(folded)
    await _apply(engine, projection, await _then(engine, pid, len(events), more))
    assert await _row(engine, pid) == (version + 1, doc, value, notes)
    whole = Patient.model_validate_json((await _record(engine, pid))[1])
    assert _same(whole, _folded(pid, [*events, *more]))
    assert next(n for n in whole.notes if n.note_id == more[0].note_id).text.endswith("Rettet.")
    reader = RecordReader(engine)
    assert _same((await reader.patient(pid))[0], whole)


async def test_a_record_holding_its_notes_is_read_so_and_moved_out_at_its_next_write(engine):
    pid = uuid.uuid4()
    events = every_event(pid)
    await _apply(engine, await _setup(engine), await _journal(engine, pid, events))
    folded = _folded(pid, events)
    async with engine.begin() as conn:     # as a record was stored before notes had rows
        await conn.execute(text("UPDATE journal_records SET doc = CAST(:d AS jsonb)"),
                           {"d": folded.model_dump_json()})
        await conn.execute(text("DELETE FROM journal_notes"))
    assert _same((await RecordReader(engine).patient(pid))[0], folded)

    more = _correction(folded)
    await _apply(engine, await _setup(engine),    # a process that never held it
                 await _then(engine, pid, len(events), more))
    _, doc, _, notes = await _row(engine, pid)
    assert "notes" not in json.loads(doc) and notes == [n.note_id for n in folded.notes]
    assert _same(Patient.model_validate_json((await _record(engine, pid))[1]),
                 _folded(pid, [*events, *more]))
