"""The FHIR benchmark's floor (``bench/fhir/floor.py``): its own process on the real
PostgreSQL, answering the workload's four interactions the way the other sides do (so the
same client and set-up drive it), and its throughput as the share each side's is of it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from rich.console import Console

from bench.fhir import floor as fl
from bench.fhir import report as rp
from bench.fhir import workload as wl
from bench.fhir.ours import set_up
from libs.events.db import asyncpg_dsn

CLIENTS, SECONDS, WARMUP = 4, 1.5, 0.3


async def test_the_floor_answers_the_workload_as_a_fhir_server_would(database_url, tmp_path):
    async with fl.floor(database_url, tmp_path) as f:
        people = wl.People()
        async with wl.client(f.side, CLIENTS) as http:
            known = await set_up(http, f.side, people, 2)
            assert len(known.patients) == 2 and len(known.observations) == 2 * wl.OBSERVATIONS

            # a transaction's Observations point at the Patient it created
            obs = (await http.get(f"Observation/{known.observations[0]}")).json()
            assert obs["id"] == known.observations[0] and obs["meta"]["versionId"] == "1"
            assert obs["subject"]["reference"] in {f"Patient/{p}" for p in known.patients}

            made = await http.post("Observation", json=wl.observation(
                f"Patient/{known.patients[0]}", 0, datetime.now(UTC)))
            assert made.status_code == 201 and made.headers["ETag"] == 'W/"1"'
            rid = made.headers["Location"].split("/")[1]
            assert (await http.get(f"Observation/{rid}")).json()["id"] == rid

            # a patient's pulses, newest first: the one just made leads
            found = (await http.get("Observation", params={
                "patient": known.patients[0], "code": f"{wl.LOINC}|{wl.PULSE}"})).json()
            ids = [e["resource"]["id"] for e in found["entry"]]
            assert found["type"] == "searchset" and ids[0] == rid and len(ids) == 1 + 5
            assert all(e["resource"]["code"]["coding"][0]["code"] == wl.PULSE
                       for e in found["entry"])

            # what it cannot take is refused in words, and an unknown id is not found
            bad = await http.post("", content=b"{not json",
                                  headers={"Content-Type": wl.FHIR_JSON})
            assert bad.status_code == 400
            assert bad.json()["resourceType"] == "OperationOutcome"
            wrong = await http.post("Observation", json=wl.patient(people.next(), 1))
            assert wrong.status_code == 400
            assert (await http.get("Observation/not-an-id")).status_code == 404
            assert (await http.get(f"Observation/{known.patients[0]}")).status_code == 404

            sends = wl.requests(f.side, known, people)
            async with wl.sender(f.side, CLIENTS, "aiohttp", http) as s:
                results = [await wl.closed_loop(s, f.side.name, phase, sends[phase], CLIENTS,
                                                SECONDS, WARMUP) for phase in wl.PHASES]
    for res in results:
        assert res.lat and set(res.status) == {201 if res.phase == "create" else 200}, \
            (res.phase, res.status)

    # beside another side, each phase's share of the floor is in the table and the JSON
    other = [wl.PhaseResult("ours", r.phase, r.seconds, lat=r.lat[: len(r.lat) // 4],
                            status=r.status, sent=r.sent) for r in results]
    doc = json.loads(rp.write(tmp_path / "out", "floor", results + other,
                              {"clients": CLIENTS, "rounds": 1, "seconds": SECONDS}).read_text())
    for mine, theirs in zip(results, other, strict=True):
        shares = doc["ratio_over_floor"][mine.phase]
        assert list(shares) == ["ours"]
        assert shares["ours"][0] == pytest.approx(len(theirs.lat) / len(mine.lat))
    console = Console(record=True, width=250)
    console.print(rp.table(rp.summary(results + other), {"clients": CLIENTS, "rounds": 1,
                                                         "seconds": SECONDS}))
    assert "÷ floor" in console.export_text()


async def test_the_floor_is_gone_with_its_database(database_url, tmp_path):
    async with fl.floor(database_url, tmp_path) as f:
        base, database = f.side.base, f.database
    with pytest.raises(httpx.TransportError):
        async with httpx.AsyncClient() as http:
            await http.get(f"{base}/metadata", timeout=2)
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1",
                                   database) == 0
    finally:
        await conn.close()
