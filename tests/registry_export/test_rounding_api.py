"""Rounding chosen for the service (``EHR_REGISTRY_PROTECTION=round``), on real Kafka and
PostgreSQL: the published tables and the dashboard carry rounded numbers only, none
suppressed, and say so; the same table downloaded twice is the same."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from libs.access.dev_issuer import DevIssuer
from tests.registry_export.support import (
    api_topics, municipality, produce, registry_api, replay, until_folded,
)

TODAY = datetime(2026, 1, 5, 12, tzinfo=UTC)
ORG = {"authority": "iso6523-actorid-upis", "ID": "0192:974600951"}


async def test_tables_and_dashboard_are_rounded_to_base_three(
        database_url, kafka_bootstrap, sources, make_topics, unique, tmp_path):
    events = municipality(40, 2025, seed=5)
    people = replay(events)
    topics = await api_topics(sources, make_topics, unique)
    app, settings = registry_api(database_url, kafka_bootstrap, topics, unique, tmp_path,
                                 TODAY, registry_protection="round",
                                 registry_rounding_key="a test key, not a secret")
    token = DevIssuer.from_settings(settings).mint("analyst", {
        "client_id": "ssb", "scope": "ehr:registry/statistics", "consumer": ORG})
    await produce(kafka_bootstrap, sources["journal.events"], events)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://registry") as api:
        await until_folded(app, people)

        headers = {"Authorization": f"Bearer {token}"}
        first = (await api.get("/statistics/point/2025", headers=headers)).json()
        values = first["value"]
        assert values and all(v is not None and v % 3 == 0 for v in values)
        assert first["status"] == {} and any(v > 0 for v in values)
        assert "randomly rounded to a multiple of 3" in first["note"][0]
        again = (await api.get("/statistics/point/2025", headers=headers)).json()
        assert again["value"] == values
        csv = (await api.get("/statistics/period/2025?format=csv", headers=headers)).text
        assert all(int(line.rsplit(",", 1)[1]) % 3 == 0 for line in csv.splitlines()[1:])

        page = (await api.get("/dashboard?year=2025")).text
        assert "tilfeldig avrundet til et multiplum av 3" in page and "(prikket)" not in page
