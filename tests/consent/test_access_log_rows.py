"""Consent's ``access_log`` read model holds each entry as it was logged: entries written by the
real ``AccessLogger`` on real PostgreSQL, read back and decoded as the projection runner does,
then projected; every column is the entry's field and ``doc`` the entry itself. The
projection hands PostgreSQL the entries as one JSON array and lets it read the columns out of
each (``services/consent/projections/access_log.py``), so this pins what it reads to what the
entry says."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from libs.access.model import Basis
from libs.audit.log import AccessEntry, AccessLogged, AccessLogger
from services.consent.projections.access_log import AccessLogProjection

AT = datetime(2026, 12, 7, 8, 30, 15, 123456, tzinfo=UTC)


def entries(patient: uuid.UUID) -> list[AccessEntry]:
    common = {"reason": "care_relation", "action": "read", "category": "record"}
    return [
        AccessEntry(service="journal", outcome="permit", actor_kind="practitioner",
                    actor_id="9144889", hpr="9144889", name="Åse Ødegård",
                    point_of_care="974600978", legal_basis=Basis.care_relation,
                    resources=("Observation/1",), accessed_at=AT, **common),
        AccessEntry(service="medication", outcome="permit", actor_kind="practitioner",
                    actor_id="7654321", hpr="7654321", point_of_care="889640790",
                    legal_basis=Basis.emergency, emergency=True,
                    accessed_at=AT + timedelta(seconds=1), **common),
        AccessEntry(service="consent", outcome="deny", actor_kind="citizen",
                    actor_id=str(patient), accessed_at=AT + timedelta(hours=2),
                    **common | {"reason": "no_access", "action": "search"}),
    ]


async def test_every_column_is_the_entrys_field_and_doc_the_entry(engine):
    patient = uuid.uuid4()
    logger = AccessLogger(engine, "journal")
    await logger.start()
    try:
        for e in entries(patient):
            await logger.log(e, patient)
    finally:
        await logger.stop()
    logged = await logger.store.load(logger.stream_of(patient))   # decoded as the runner does
    assert [type(p) for _, p in logged] == [AccessLogged] * 3

    projection = AccessLogProjection()
    async with engine.begin() as conn:
        await projection.setup(conn)
        await projection.apply_batch(conn, logged)
    async with engine.begin() as conn:   # again: kept as it is
        await projection.apply_batch(conn, logged)
    async with engine.connect() as conn:
        rows = {r.event_id: r for r in (await conn.execute(text(
            "SELECT event_id, patient_id, service, chain, seq, accessed_at, actor_kind, "
            "actor_id, unit, outcome, legal_basis, emergency, action, doc FROM access_log"
        ))).all()}

    assert len(rows) == 3
    for env, p in logged:
        row = rows[env.event_id]
        assert (row.patient_id, row.service, row.chain, row.seq, row.accessed_at,
                row.actor_kind, row.actor_id, row.unit, row.outcome, row.legal_basis,
                row.emergency, row.action) == \
            (patient, p.service, p.chain, p.seq, p.accessed_at, p.actor_kind, p.actor_id,
             p.point_of_care, p.outcome, p.legal_basis.value, p.emergency, p.action)
        assert row.doc == env.data
    assert {r.unit for r in rows.values()} == {"974600978", "889640790", None}
    assert sorted(r.emergency for r in rows.values()) == [False, False, True]
    assert {r.doc["name"] for r in rows.values()} == {"Åse Ødegård", None}
