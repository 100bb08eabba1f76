"""``Idempotency-Key`` on the journal's and the medication service's writes, on real PostgreSQL
and Kafka: a repeat (one after the other, or at the same moment) gets the first answer and
appends nothing; the same key with another body is a 422; and the key is recorded in the
same transaction as the events, so a failure between the append and the commit leaves neither
(and a repeat then writes once)."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from tests.medication.conftest import PARACET, Ward, dose, ward  # noqa: F401  (the fixture)
from tests.support.waiting import passes

KEY = "Idempotency-Key"


async def _events(app, stream: str) -> int:
    async with app.state.engine.connect() as conn:
        return (await conn.execute(text("SELECT count(*) FROM events WHERE stream_id = :s"),
                                   {"s": stream})).scalar_one()


async def test_journal_and_medication_writes_are_applied_once(ward: Ward):  # noqa: F811
    c = ward.c
    patient_id, _ = await ward.patient()
    nurse = c.nurse()
    journal_stream = f"journal-{patient_id}"

    # the journal: an observation sent twice, then the same key with another value
    before = await _events(c.journal_app, journal_stream)
    pulse = {"code": "8867-4", "value": 72}
    url = f"/patients/{patient_id}/observations"
    first = await c.journal.post(url, headers=nurse | {KEY: "obs-1"}, json=pulse)
    again = await c.journal.post(url, headers=nurse | {KEY: "obs-1"}, json=pulse)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json() and again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await c.journal.post(url, headers=nurse | {KEY: "obs-1"},
                                 json=pulse | {"value": 80})
    assert other.status_code == 422 and "different request" in other.text
    assert await _events(c.journal_app, journal_stream) == before + 1

    # the medication list: a prescription repeated after the list moved on is still the first
    # answer (not a 412 on its old If-Match), and nothing is prescribed twice
    order = {"product_id": PARACET, "dose": dose(1, as_needed=True, max_per_day=8)}
    presc = f"/patients/{patient_id}/medication-list/prescriptions"
    gp = c.gp() | {KEY: "order-1", "If-Match": 'W/"0"'}
    made = await ward.med.post(presc, headers=gp, json=order)
    assert made.status_code == 201, made.text
    ward.seen(made)
    entry = made.json()["entry_id"]
    repeated = await ward.med.post(presc, headers=gp, json=order)
    assert repeated.status_code == 201 and repeated.json()["entry_id"] == entry

    # a nurse's dose sent five times at the same moment (a queue flushed twice): given once
    given_url = f"/patients/{patient_id}/medication-list/entries/{entry}/administrations"
    answers = await asyncio.gather(*(
        ward.med.post(given_url, headers=nurse | {KEY: "dose-1"}, json={"outcome": "given"})
        for _ in range(5)))
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.json()["consistency_token"] for a in answers}) == 1
    assert sum("Idempotent-Replayed" in a.headers for a in answers) == 4
    ward.seen(answers[0])
    assert await _events(ward.c.medication_app, f"medication-{patient_id}") == 2

    async def one_dose_on_the_entry() -> None:
        r = await ward.med.get(f"/patients/{patient_id}/medication-list/entries/{entry}",
                               headers=c.gp() | {"X-Consistency-Token": ward.token})
        assert r.status_code == 200, r.text
        assert len(r.json()["administrations"]) == 1, r.json()
    await passes(one_dose_on_the_entry, timeout_s=15)


async def test_the_key_and_the_events_commit_together(ward: Ward):  # noqa: F811
    """PostgreSQL itself refuses to record the answer (a trigger raises in the same
    transaction, after the events were appended): neither the events nor the key stay, and the
    client's retry with the same key writes once."""
    c = ward.c
    patient_id, _ = await ward.patient()
    nurse, stream = c.nurse(), f"journal-{patient_id}"
    url = f"/patients/{patient_id}/observations"
    warm = await c.journal.post(url, headers=nurse | {KEY: "warm"},
                                json={"code": "8867-4", "value": 70})
    assert warm.status_code == 201, warm.text
    before = await _events(c.journal_app, stream)
    engine = c.journal_app.state.engine
    async with engine.begin() as conn:
        await conn.execute(text("""CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql
            AS $$ BEGIN RAISE EXCEPTION 'disk gone'; END $$"""))
        await conn.execute(text("CREATE TRIGGER refuse BEFORE UPDATE ON idempotency_keys "
                                "FOR EACH ROW EXECUTE FUNCTION refuse()"))
    body = {"code": "8867-4", "value": 75}
    failed = await c.journal.post(url, headers=nurse | {KEY: "crash-1"}, json=body)
    assert failed.status_code == 500, failed.text
    assert await _events(c.journal_app, stream) == before
    async with engine.begin() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM idempotency_keys WHERE key = "
                                        "'crash-1'"))).scalar_one() == 0
        await conn.execute(text("DROP TRIGGER refuse ON idempotency_keys"))
    retried = await c.journal.post(url, headers=nurse | {KEY: "crash-1"}, json=body)
    again = await c.journal.post(url, headers=nurse | {KEY: "crash-1"}, json=body)
    assert retried.status_code == again.status_code == 201, retried.text
    assert again.json() == retried.json()
    assert await _events(c.journal_app, stream) == before + 1
