"""kill -9 of a service under read load: every answered request has its access-log entry, and
the hash chains are intact after the restart (nothing acknowledged is lost)."""

from __future__ import annotations

import asyncio
from datetime import date

import httpx
import pytest
from sqlalchemy import text

from libs.audit.verify import verify_db
from libs.access.dev_issuer import DevIssuer
from libs.kernel.identifiers import synthetic_number
from libs.config import Settings
from libs.devstack.procs import free_port
from tests.consent.conftest import HOME_CARE, MUNICIPALITY
from tests.support.service_process import healthy, start_service
from tests.support.waiting import eventually

pytestmark = pytest.mark.fault


async def test_service_killed_under_read_load_keeps_every_answered_access_logged(
        database_url, kafka_bootstrap, schema, engine, make_topics, tmp_path):
    topics = {"consent.events": await make_topics("consent.events", 3),
              "audit.access": await make_topics("audit.access", 3),
              "journal.events": await make_topics("journal.events", 3)}
    key, port = tmp_path / "key.pem", free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_service("consent", database_url, schema, kafka_bootstrap, port, key, topics)
    try:
        await eventually(lambda: healthy(url), 90, what="service up")
        issuer = DevIssuer.from_settings(Settings(environment="test", dev_key_path=key))
        nurse = {"Authorization": "Bearer " + issuer.mint_practitioner(
            "9144889", MUNICIPALITY, HOME_CARE, ("nurse",), "Nina")}
        leader = {"Authorization": "Bearer " + issuer.mint_practitioner(
            "1234567", MUNICIPALITY, HOME_CARE, ("unit_leader",), "Leder")}
        async with httpx.AsyncClient(base_url=url, timeout=10) as c:
            patients = []
            for slot in range(3):
                r = await c.post("/persons", headers=nurse, json={
                    "national_id": synthetic_number(date(1944, 2, 2), slot)})
                patients.append(r.json()["patient_id"])
                r = await c.post(f"/patients/{patients[-1]}/care-relations", headers=leader,
                                 json={"purpose": "home care", "basis": "episode",
                                       "reason": "episode of home care"})
                # each patient's own token: the three are on different partitions, so the last
                # one applied says nothing of the others (the load's first reads were a 403)
                seen = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
                r = await c.get(f"/patients/{patients[-1]}/consents", headers=nurse | seen)
                assert r.status_code == 200, r.text

            answered: list[str] = []

            async def reader(worker: int) -> None:
                for i in range(10_000):
                    tag = f"load-{worker}-{i}"
                    try:
                        r = await c.get(f"/patients/{patients[i % 3]}/consents",
                                        headers=nurse | {"X-Purpose-Of-Use": tag})
                    except httpx.HTTPError:
                        return          # the server is gone
                    assert r.status_code == 200, r.text
                    answered.append(tag)

            readers = [asyncio.create_task(reader(w)) for w in range(8)]
            await eventually(lambda: len(answered) >= 200, 60, what="reads under way")
            proc.kill()                 # SIGKILL, mid-load
            proc.wait()
            await asyncio.gather(*readers)
        assert len(answered) >= 200

        async with engine.connect() as conn:
            rows = await conn.execute(text("""
                SELECT envelope->'data'->>'purpose_of_use' FROM events
                 WHERE type = 'audit.AccessLogged'"""))
            logged = {r[0] for r in rows}
        missing = [t for t in answered if t not in logged]
        assert missing == [], f"{len(missing)} answered reads have no access-log entry"
        report = await verify_db(database_url, schema)
        assert report.problems == [] and report.entries >= len(answered)

        # after a restart the chains go on where they stopped
        proc = start_service("consent", database_url, schema, kafka_bootstrap, port, key, topics)
        await eventually(lambda: healthy(url), 90, what="service restarted")
        async with httpx.AsyncClient(base_url=url, timeout=10) as c:
            for p in patients:
                r = await c.get(f"/patients/{p}/consents", headers=nurse)
                assert r.status_code == 200
        after = await verify_db(database_url, schema)
        assert after.problems == [] and after.entries == report.entries + 3
        # the killed process's writer slot was freed with its session: no new chains
        assert after.chains == report.chains == 3
    finally:
        proc.kill()
        proc.wait()
