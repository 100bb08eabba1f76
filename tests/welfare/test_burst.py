"""Back-pressure on the real stack: a burst larger than the pipeline takes gets 429 with
Retry-After; every acknowledged reading is recorded, and every refused one is not, until the
device sends it again. Both signals: too many requests at once, and an outbox backlog while
the relay is stopped (every acknowledged reading reaches Kafka once it resumes). A red alarm
has a lane of its own: it is taken through both."""

from __future__ import annotations

import asyncio
import zlib

from sqlalchemy import text

from services.welfare.http.pressure import Gate
from tests.support.waiting import passes
from tests.welfare.conftest import MONITOR, Home, batch, flag, observation


async def _recorded(home: Home, kind: str = "welfare.MeasurementReceived") -> set[str]:
    """The device event ids of the readings recorded (measurements, or ``kind``)."""
    async with home.engine.connect() as conn:
        rows = (await conn.execute(text("""
            SELECT envelope->'data'->'reading'->>'device_event_id' FROM events
             WHERE type = :kind"""), {"kind": kind})).all()
    return {r[0] for r in rows}


async def test_a_burst_gets_429_and_nothing_acknowledged_is_lost(home: Home):
    patient = await home.ready("tablet-b", MONITOR)
    tablet = home.device("tablet-b")
    home.app.state.gate = Gate(home.engine, max_in_flight=2, max_backlog=10_000, reserve=4)

    async def send(i: int):
        body = batch(*(observation(patient, f"r{i}-{j}", value=95) for j in range(5)))
        return i, await home.api.post("/ingest", headers=tablet, json=body)

    async def alarm(i: int):   # a pressed button among the routine readings of the burst
        body = batch(observation(patient, f"a{i}-m", value=95),
                     flag(patient, f"a{i}-button", code="4.13", severity=None))
        return await home.api.post("/ingest", headers=tablet, json=body)

    answers, alarms = await asyncio.gather(
        asyncio.gather(*(send(i) for i in range(30))), asyncio.gather(*(alarm(i) for i in
                                                                         range(3))))
    assert [r.status_code for r in alarms] == [201] * 3, [r.text for r in alarms]
    assert await _recorded(home, "welfare.DeviceEventReceived") == {
        f"a{i}-button" for i in range(3)}
    acked = {i for i, r in answers if r.status_code == 201}
    refused = {i for i, r in answers if r.status_code == 429}
    assert acked and refused and acked | refused == set(range(30))
    assert all(r.headers["Retry-After"] == "1" for _, r in answers if r.status_code == 429)
    recorded = await _recorded(home)
    assert recorded == {f"r{i}-{j}" for i in acked for j in range(5)} | \
        {f"a{i}-m" for i in range(3)}

    # the device sends the refused ones again, one at a time: all taken, none twice
    for i in sorted(refused):
        _, r = await send(i)
        assert r.status_code == 201, r.text
    assert await _recorded(home) == {f"r{i}-{j}" for i in range(30) for j in range(5)} | \
        {f"a{i}-m" for i in range(3)}


async def _unpublished(home: Home) -> int:
    async with home.engine.connect() as conn:
        return (await conn.execute(text(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL"))).scalar_one()


async def test_a_backlog_behind_a_stopped_relay_gets_429_and_loses_nothing(home: Home):
    patient = await home.ready("tablet-r", MONITOR)
    tablet = home.device("tablet-r")
    home.app.state.gate = Gate(home.engine, max_in_flight=100, max_backlog=20, check_every_s=0)
    key = zlib.crc32(f"ehr.relay.{home.schema}".encode())
    # stop the relay: end its session, then hold its leader lock (another replica that has
    # stopped publishing), so events are committed but not published
    async with home.engine.connect() as held:
        async def leader() -> None:
            # the relay's session ends a moment after it is told to, and the relay may have
            # reconnected by the next try: end its sessions again, as they are now (each try
            # commits, since pg_stat_activity is read once per transaction)
            await held.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = :a"), {"a": f"ehr-relay-{home.schema}"})
            got = (await held.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                      {"k": key})).scalar_one()
            await held.commit()   # the lock is the session's: it stays
            assert got
        await passes(leader, 30, 0.05)
        start = await _unpublished(home)

        async def send(i: int):
            body = batch(*(observation(patient, f"q{i}-{j}", value=95) for j in range(5)))
            return await home.api.post("/ingest", headers=tablet, json=body)

        # one gateway's burst, batch after batch: taken while the backlog is within bounds
        answers = [await send(i) for i in range(12)]
        codes_ = [r.status_code for r in answers]
        taken = codes_.index(429)
        assert taken >= 2, codes_
        assert codes_ == [201] * taken + [429] * (12 - taken), codes_
        # each batch taken left six rows to publish: its five readings and its access-log
        # entry (``start``: what was waiting when the relay stopped, the log's rows too)
        assert start + 6 * (taken - 1) <= 20 < start + 6 * taken
        refused = answers[taken]
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["resourceType"] == "OperationOutcome"
        assert "waiting to be published" in refused.json()["issue"][0]["diagnostics"]
        assert await _recorded(home) == {f"q{i}-{j}" for i in range(taken) for j in range(5)}
        # a fall alarm is still taken, up to twice the bound
        fall = await home.api.post("/ingest/Flag", headers=tablet,
                                   json=flag(patient, "fall", code="4.1", severity=None))
        assert fall.status_code == 201, fall.text
        await held.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})

    # the relay is back: every acknowledged reading reaches Kafka (the read model is fed
    # from it), and the device's retries are taken once the backlog is gone
    async def published() -> None:
        assert await _unpublished(home) == 0
        got = {r["device_event_id"] for r in await home.readings(patient, limit=1000)}
        assert got == {f"q{i}-{j}" for i in range(taken) for j in range(5)} | {"fall"}
    await passes(published, 120, 0.2)
    for i in range(taken, 12):
        # sent back to back, the retries may outrun the relay (just back, and woken per
        # append) and fill the backlog again: the device then waits as told and sends again
        async def retried(i: int = i):
            r = await send(i)
            assert r.status_code != 429, r.text
            return r
        r = await passes(retried, 60, 0.2)
        assert r.status_code == 201, r.text
    assert await _recorded(home) == {f"q{i}-{j}" for i in range(12) for j in range(5)}
