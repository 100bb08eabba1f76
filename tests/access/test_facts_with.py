"""A write's decision with what it needs of the service's read models besides the state, read in
the access facts' statement (``Access.require(read_with=...)``, ``FactsReader.facts_with``) on
a real PostgreSQL: the grant carries what was read for the patient decided on; a denial raises
before anything of it is handed out, and is logged like any other."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from libs.access.events import CareRelationStarted
from libs.access.facts import evolve
from libs.access.model import Action, Facts, Practitioner, Resource, Role
from libs.audit.facts_store import AccessFactsProjection, FactsReader
from libs.audit.memory import InMemoryAccessLog
from libs.web.guard import Access, AccessDenied

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
UNIT, ORG = "974600978", "123456785"
DOCTOR = Practitioner(person_id="lege-1", hpr="7654321", org_parent=ORG, org_child=UNIT,
                      roles=frozenset({Role.physician}))
NOTES = "(SELECT string_agg(line, '|' ORDER BY line) FROM facts_with_lines WHERE patient = $1)"


@pytest.fixture
async def access(engine) -> Access:
    async with engine.begin() as conn:
        await AccessFactsProjection().setup(conn)
        await conn.execute(text("CREATE TABLE IF NOT EXISTS facts_with_lines "
                                "(patient uuid NOT NULL, line text NOT NULL)"))
    return Access("medication", validator=None, facts=FactsReader(engine),
                  logger=InMemoryAccessLog(), clock=lambda: NOW)


async def _cared_for(engine, patient: uuid.UUID, *lines: str) -> None:
    facts = evolve(Facts.unknown(patient), CareRelationStarted(
        relation_id=uuid.uuid4(), unit=UNIT, org_parent=ORG, purpose="GP",
        basis="episode", started_at=NOW))
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO access_facts VALUES (:p, 1, CAST(:d AS jsonb))"),
                           {"p": patient, "d": facts.model_dump_json()})
        for line in lines:
            await conn.execute(text("INSERT INTO facts_with_lines VALUES (:p, :l)"),
                               {"p": patient, "l": line})


async def test_the_grant_carries_what_was_read_with_the_facts_for_its_patient(engine, access):
    kari, ola = uuid.uuid4(), uuid.uuid4()
    await _cared_for(engine, kari, "penicillin", "latex")
    await _cared_for(engine, ola, "nuts")
    grant = await access.require(DOCTOR, Action.write, Resource(patient_id=kari,
                                                                category="medication"),
                                 read_with=NOTES)
    assert grant.decision.permit
    assert grant.read == "latex|penicillin"
    assert grant.facts == await access.reader.facts(kari)
    plain = await access.require(DOCTOR, Action.write, Resource(patient_id=ola,
                                                                category="medication"))
    assert plain.read is None and plain.decision.permit   # nothing asked, nothing read


async def test_nothing_to_read_is_none(engine, access):
    patient = uuid.uuid4()
    await _cared_for(engine, patient)
    grant = await access.require(DOCTOR, Action.write, Resource(patient_id=patient,
                                                                category="medication"),
                                 read_with=NOTES)
    assert grant.read is None


async def test_a_denial_hands_out_nothing_and_is_logged(engine, access):
    stranger = uuid.uuid4()   # read lines, but no care relation for the doctor's unit
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO facts_with_lines VALUES (:p, 'secret')"),
                           {"p": stranger})
    with pytest.raises(AccessDenied) as denied:
        await access.require(DOCTOR, Action.write, Resource(patient_id=stranger,
                                                            category="medication"),
                             read_with=NOTES)
    assert "secret" not in repr(denied.value.__dict__)
    assert [(p, e.outcome) for p, e in access.logger.entries] == [(stranger, "deny")]
