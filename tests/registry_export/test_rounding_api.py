"""Rounding chosen for the service (``EHR_REGISTRY_PROTECTION=round`` or ``controlled``), on
real Kafka and PostgreSQL: the published tables and the dashboard carry rounded numbers only,
none suppressed, and say which rounding; the same table downloaded twice is the same; with
controlled rounding every total in a downloaded table is the sum of its rounded parts."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import httpx
import pytest

from libs.access.dev_issuer import DevIssuer
from tests.registry_export.support import (
    api_topics, municipality, produce, registry_api, replay, until_folded,
)

TODAY = datetime(2026, 1, 5, 12, tzinfo=UTC)
ORG = {"authority": "iso6523-actorid-upis", "ID": "0192:974600951"}


NOTES = {  # what the table's note and the dashboard say
    "round": ("randomly rounded to a multiple of 3", "tilfeldig avrundet til et multiplum av 3"),
    "controlled": ("multiple of 3 by controlled rounding", "ved kontrollert avrunding"),
}


@pytest.mark.parametrize("protection", ["round", "controlled"])
async def test_tables_and_dashboard_are_rounded_to_base_three(
        protection, database_url, kafka_bootstrap, sources, make_topics, unique, tmp_path):
    events = municipality(40, 2025, seed=5)
    people = replay(events)
    topics = await api_topics(sources, make_topics, unique)
    app, settings = registry_api(database_url, kafka_bootstrap, topics, unique, tmp_path,
                                 TODAY, registry_protection=protection,
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
        assert NOTES[protection][0] in first["note"][0]
        again = (await api.get("/statistics/point/2025", headers=headers)).json()
        assert again["value"] == values
        csv = (await api.get("/statistics/period/2025?format=csv", headers=headers)).text
        rows = [line.split(",") for line in csv.splitlines()[1:]]
        assert rows and all(int(r[5]) % 3 == 0 for r in rows)
        if protection == "controlled":   # each group's sexes add up to its total, in every age
            parts: dict[tuple, int] = defaultdict(int)
            totals = {}
            for _, region, age, sex, group, value in rows:
                if sex == "total":
                    totals[region, age, group] = int(value)
                else:
                    parts[region, age, group] += int(value)
            assert totals and all(totals[k] == parts[k] for k in totals)

        page = (await api.get("/dashboard?year=2025")).text
        assert NOTES[protection][1] in page and "(prikket)" not in page
