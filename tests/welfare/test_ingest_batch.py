"""A gateway's batch for several people is claimed, reviewed and appended as one: on the real
stack, each reading is answered on its own, a reading twice in one batch is recorded once, the
person without consent gets one review task for all their held readings, and the same batch
sent again appends nothing."""

from __future__ import annotations

from sqlalchemy import text

from tests.support.waiting import passes
from tests.welfare.conftest import ALARM, Home, batch, flag


async def _events(home: Home, patient: str) -> int:
    async with home.engine.connect() as conn:
        return (await conn.execute(text(
            "SELECT count(*) FROM events WHERE stream_id = :s"),
            {"s": f"welfare-{patient}"})).scalar_one()


async def test_a_batch_for_two_people_is_answered_per_reading_and_recorded_once(home: Home):
    covered, held = await home.person(), await home.person()
    for patient in (covered, held):
        await home.assign(patient, "centre-1", ALARM)
    await home.cover(covered, ALARM)
    centre = home.device("centre-1")
    sent = batch(flag(covered, "c-1", code="4.13"), flag(held, "h-1"), flag(covered, "c-1"),
                 flag(held, "h-2", code="4.13"), flag(covered, "c-2", code="4.13"))

    r = await home.api.post("/ingest", headers=centre, json=sent)
    assert r.status_code == 201, r.text
    entries = [(e["response"]["status"], e["reading"]["status"]) for e in r.json()["entry"]]
    assert entries == [("201 Created", "accepted"), ("201 Created", "quarantined"),
                       ("200 OK", "already recorded"), ("201 Created", "quarantined"),
                       ("201 Created", "accepted")]

    async def recorded() -> None:
        assert sorted((x["device_event_id"], x["status"])
                      for x in await home.readings(covered)) == [
            ("c-1", "accepted"), ("c-2", "accepted")]
        assert sorted((x["device_event_id"], x["status"])
                      for x in await home.readings(held)) == [
            ("h-1", "quarantined"), ("h-2", "quarantined")]
        # one review for the service owner for both held readings, none for the covered one
        assert [t["kind"] for t in await home.tasks(held)] == ["quarantine_review"]
        assert await home.tasks(covered) == []
    await passes(recorded, timeout_s=30)

    counts = (await _events(home, covered), await _events(home, held))
    again = await home.api.post("/ingest", headers=centre, json=sent)
    assert again.status_code == 200, again.text
    assert {e["response"]["status"] for e in again.json()["entry"]} == {"200 OK"}
    assert (await _events(home, covered), await _events(home, held)) == counts == (2, 3)
