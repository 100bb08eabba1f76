"""The read models that hold a patient's whole document (``journal_records`` with its notes'
rows, the medication list), written by two replicas in turn and after a rolled-back batch, on
real PostgreSQL. A projection asks PostgreSQL only for the documents it does not hold parsed at
the stored version (``JournalRecordsProjection._apply_journal``,
``MedicationListsProjection.apply_batch``), so one whose copy another replica (or a rollback)
left behind reads the document again, and the stored document still folds every event. The
documents are stored uncompressed (``libs.events.read_model.uncompressed``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import text

from libs.events.read_model import uncompressed
from libs.events.registry import Registry
from libs.events.store import EventContext, EventStore
from services.journal import contract
from services.journal.domain.patients import Patient, evolve
from services.journal.projections.records import RECORD_DOC, JournalRecordsProjection
from services.medication import contract as med_contract
from services.medication.domain import medication_list as ml
from services.medication.domain.state import MedicationList
from services.medication.projections.lists import MedicationListsProjection
from tests.events.test_relay_projection import ACTOR
from tests.journal.support import every_event
from tests.medication import domain_support as med

class RolledBack(Exception):
    pass


async def _appended(engine, registry: Registry, stream: str, patient_id: uuid.UUID,
                    events: Sequence) -> list:
    store = EventStore(engine, registry)
    await store.append(stream, 0, list(events), EventContext(patient_id=patient_id, actor=ACTOR))
    return await store.load(stream)


async def _apply(engine, projection, batch, *, roll_back: bool = False) -> None:
    try:
        async with engine.begin() as conn:
            await projection.apply_batch(conn, batch)
            if roll_back:
                raise RolledBack
    except RolledBack:
        pass


def _thirds(items: list) -> list[list]:
    n = len(items) // 3
    return [items[:n], items[n:2 * n], items[2 * n:]]


def _same(stored, folded) -> bool:
    """Equal as JSON values (the stored document's object keys are in jsonb's order)."""
    return stored.model_dump(mode="json") == folded.model_dump(mode="json")


async def _stored(engine, table: str, patient_id: uuid.UUID,
                  doc: str = "r.doc") -> tuple[int, str, str | None]:
    """The row's version, its document (``doc``: its SQL over the row ``r``) and how the row's
    own document is stored."""
    async with engine.connect() as conn:
        return (await conn.execute(text(
            f"SELECT r.version, ({doc})::text, pg_column_compression(r.doc) FROM {table} r "
            "WHERE r.patient_id = :p"), {"p": patient_id})).one()


async def _record(engine, patient_id: uuid.UUID) -> tuple[int, str, str | None]:
    """The journal's record as its readers put it together: its row and its notes' rows."""
    return await _stored(engine, "journal_records", patient_id, RECORD_DOC)


async def _journal(engine, pid: uuid.UUID, events: Sequence) -> list:
    return await _appended(engine, Registry.of(contract), contract.stream_of(pid), pid, events)


def _folded(pid: uuid.UUID, events: Sequence) -> Patient:
    """The record the journal's own fold makes of ``events``."""
    p = Patient.unknown(pid)
    for payload in events:
        p = evolve(p, payload)
    return p


async def test_a_record_written_by_two_replicas_in_turn_keeps_every_event(engine):
    pid = uuid.uuid4()
    events = every_event(pid)
    loaded = await _journal(engine, pid, events)
    one, other = (JournalRecordsProjection(welfare_topic=None),
                  JournalRecordsProjection(welfare_topic=None))
    async with engine.begin() as conn:
        await one.setup(conn)
    first, second, third = _thirds(loaded)
    await _apply(engine, one, first)
    await _apply(engine, other, second)    # ``one`` still holds the record after ``first``,
    await _apply(engine, one, third)       # so it reads the stored one: ``second`` is kept
    version, doc, _ = await _record(engine, pid)
    assert version == len(events)
    assert _same(Patient.model_validate_json(doc), _folded(pid, events))
    _, own, compression = await _stored(engine, "journal_records", pid)   # the row's own
    assert len(own) > 2_000 and compression is None   # large enough to be compressed by default


async def test_a_record_after_a_rolled_back_batch_is_read_again(engine):
    pid = uuid.uuid4()
    events = every_event(pid)
    loaded = await _journal(engine, pid, events)
    projection = JournalRecordsProjection(welfare_topic=None)
    async with engine.begin() as conn:
        await projection.setup(conn)
    first, second, third = _thirds(loaded)
    await _apply(engine, projection, first)
    await _apply(engine, projection, second, roll_back=True)   # held: what never committed
    await _apply(engine, projection, second)
    await _apply(engine, projection, third)
    version, doc, _ = await _record(engine, pid)
    assert version == len(events)
    assert _same(Patient.model_validate_json(doc), _folded(pid, events))


async def test_a_medication_list_written_by_two_replicas_in_turn_keeps_every_change(engine):
    pid, events = uuid.uuid4(), []
    lst = MedicationList.empty(pid)
    for product in ("paracet", "ibux", "selozok"):
        new = ml.prescribe(lst, ml.Prescribe(product_id=product, dose=med.dose(
            1, "tablett", "08:00", "20:00")), med.DOCTOR, med.NOW, catalogue=med.CATALOGUE)
        lst, events = med.then(lst, new), events + new
    loaded = await _appended(engine, Registry.of(med_contract), med_contract.stream_of(pid),
                             pid, events)
    one, other = MedicationListsProjection(), MedicationListsProjection()
    async with engine.begin() as conn:
        await one.setup(conn)
    first, second, third = _thirds(loaded)
    await _apply(engine, one, first)
    await _apply(engine, other, second)
    await _apply(engine, one, third)
    version, doc, _ = await _stored(engine, "medication_lists", pid)
    assert version == lst.version
    assert _same(MedicationList.model_validate_json(doc), lst)
    assert [e.entry_id for e in MedicationList.model_validate_json(doc).entries] == [
        e.entry_id for e in lst.entries]


async def test_uncompressed_columns_store_a_large_document_as_it_is(engine):
    big = '{"notes": [%s]}' % ", ".join(f'"{"tekst " * 40}{i}"' for i in range(100))
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE docs (id int PRIMARY KEY, doc jsonb NOT NULL, "
                                "kept jsonb NOT NULL)"))
        await uncompressed(conn, "docs", "doc")
        await uncompressed(conn, "docs", "doc")   # again: already so, nothing to do
        await conn.execute(text("INSERT INTO docs VALUES (1, CAST(:d AS jsonb), "
                                "CAST(:d AS jsonb))"), {"d": big})
        row = (await conn.execute(text(
            "SELECT pg_column_compression(doc), pg_column_compression(kept), "
            "pg_column_size(doc), doc = kept FROM docs"))).one()
        storage = dict((await conn.execute(text(
            "SELECT attname, attstorage::text FROM pg_attribute WHERE attrelid = 'docs'::regclass "
            "AND attname IN ('doc', 'kept')"))).all())
    assert row[0] is None and row[1] == "pglz"   # the column left alone is compressed
    assert row[2] > len(big) // 2 and row[3]
    assert storage == {"doc": "e", "kept": "x"}
