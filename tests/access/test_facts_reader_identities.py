"""A citizen's login → their patient id (``FactsReader.patient_for``, read on every citizen
request by ``libs/web/guard.py``), on a real PostgreSQL: the id a login names is kept once
found, and a login not (yet) known is asked for again, so a person registered after a first
try is served as soon as the access facts have them."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from libs.audit.facts_store import AccessFactsProjection, FactsReader


async def _register(engine, national_id: str, patient_id: uuid.UUID) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO access_identities VALUES (:n, :p, 'FNR')"),
                           {"n": national_id, "p": patient_id})


async def test_a_login_is_found_once_registered_and_not_before(engine):
    async with engine.begin() as conn:
        await AccessFactsProjection().setup(conn)
    reader = FactsReader(engine, max_identities=2)
    kari, ola, per = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert await reader.patient_for("14034112345") is None
    await _register(engine, "14034112345", kari)
    assert await reader.patient_for("14034112345") == kari   # no "unknown" remembered
    await _register(engine, "02113854321", ola)
    await _register(engine, "15058511111", per)
    assert await reader.patient_for("02113854321") == ola
    assert await reader.patient_for("15058511111") == per    # over the bound: Kari forgotten
    assert await reader.patient_for("14034112345") == kari   # and read again
    assert await reader.patient_for("99999999999") is None
