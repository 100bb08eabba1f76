"""Back-pressure on the real stack: a burst larger than the pipeline takes gets 429 with
Retry-After; every acknowledged reading is recorded, and every refused one is not, until the
device sends it again."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from services.welfare.http.pressure import Gate
from tests.welfare.conftest import MONITOR, Home, batch, observation


async def _recorded(home: Home) -> set[str]:
    async with home.engine.connect() as conn:
        rows = (await conn.execute(text("""
            SELECT envelope->'data'->'reading'->>'device_event_id' FROM events
             WHERE type = 'welfare.MeasurementReceived'"""))).all()
    return {r[0] for r in rows}


async def test_a_burst_gets_429_and_nothing_acknowledged_is_lost(home: Home):
    patient = await home.ready("tablet-b", MONITOR)
    tablet = home.device("tablet-b")
    home.app.state.gate = Gate(home.engine, max_in_flight=2, max_backlog=10_000)

    async def send(i: int):
        body = batch(*(observation(patient, f"r{i}-{j}", value=95) for j in range(5)))
        return i, await home.api.post("/ingest", headers=tablet, json=body)

    answers = await asyncio.gather(*(send(i) for i in range(30)))
    acked = {i for i, r in answers if r.status_code == 201}
    refused = {i for i, r in answers if r.status_code == 429}
    assert acked and refused and acked | refused == set(range(30))
    assert all(r.headers["Retry-After"] == "1" for _, r in answers if r.status_code == 429)
    recorded = await _recorded(home)
    assert recorded == {f"r{i}-{j}" for i in acked for j in range(5)}

    # the device sends the refused ones again, one at a time: all taken, none twice
    for i in sorted(refused):
        _, r = await send(i)
        assert r.status_code == 201, r.text
    assert await _recorded(home) == {f"r{i}-{j}" for i in range(30) for j in range(5)}
