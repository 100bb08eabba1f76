"""The simulator through the real APIs (journal, consent, welfare on the real stack): people,
care relations, devices and consents set up as in production, then every reading it sends is
recorded."""

from __future__ import annotations

from sqlalchemy import text

from services.welfare.simulate import Clients, simulate
from tests.welfare.conftest import Home


async def test_the_simulator_sends_realistic_traffic_that_is_all_recorded(home: Home):
    c = home.c
    clients = Clients(c.journal, c.consent, home.api, case_worker=c.case_worker(),
                      leader=home.leader(), nurse=c.nurse(), device=home.device)
    seen: list[tuple[int, int]] = []
    counts, people = await simulate(clients, devices=4, minutes=20, seed=3, unit="974600978",
                            progress=lambda n, total: seen.append((n, total)))
    assert counts["devices"] == 4 and counts["readings"] > 20
    assert len(people) == 2   # three devices each at most: an alarm, a dispenser, a tablet
    assert counts["recorded"] == counts["readings"] and counts["repeated"] == 0
    assert sum(n for n, _ in seen) == counts["readings"]
    async with home.engine.connect() as conn:
        kinds = dict((await conn.execute(text("""
            SELECT type, count(*) FROM events WHERE stream_id LIKE 'welfare-%'
               AND type IN ('welfare.MeasurementReceived', 'welfare.DeviceEventReceived',
                            'welfare.ReadingQuarantined')
             GROUP BY type"""))).all())
    # consent recorded first: nothing quarantined; both measurements and events sent
    assert "welfare.ReadingQuarantined" not in kinds
    assert kinds["welfare.MeasurementReceived"] > 0 and kinds["welfare.DeviceEventReceived"] > 0
    assert sum(kinds.values()) == counts["readings"]
