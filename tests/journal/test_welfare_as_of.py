"""Device measurements (welfare.events) in the journal's record as it stood (``?as_of=``) and in
its timeline, on real Kafka and PostgreSQL: what the record held then, not what came later;
the timeline's pages neither repeat nor miss them."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.waiting import passes
from tests.welfare import conftest as welfare_stack
from tests.welfare.conftest import MONITOR, Home, observation

home = welfare_stack.home   # the fixture: the welfare service with the journal and consent

SPO2, PULSE = "59408-5", "8867-4"


async def _overview(home: Home, patient: str, **params) -> dict[str, dict]:
    r = await home.c.journal.get(f"/patients/{patient}", headers=home.c.nurse(), params=params)
    assert r.status_code == 200, r.text
    return {o["code"]: o for o in r.json()["latest_vital_signs"]}


async def _timeline(home: Home, patient: str, **params) -> dict:
    r = await home.c.journal.get(f"/patients/{patient}/timeline", headers=home.c.nurse(),
                                 params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _devices(page: dict) -> list[dict]:
    return [e["data"] for e in page["entries"] if e["event"] == "DeviceMeasurements"]


async def test_as_of_and_the_timeline_show_the_device_measurements_the_record_held(home: Home):
    patient = await home.ready("tablet-a", MONITOR)
    tablet = home.device("tablet-a")
    before_any = datetime.now(UTC)
    r = await home.api.post("/ingest/Observation", headers=tablet,
                            json=observation(patient, "s-1", code=SPO2, value=96))
    assert r.status_code == 201, r.text

    async def first_shown() -> None:
        assert (await _overview(home, patient)).get(SPO2, {}).get("value") == 96
    await passes(first_shown, 30, 0.1)
    between = datetime.now(UTC)
    for n, (code, value, unit) in enumerate([(SPO2, 91, "%"), (PULSE, 64, "/min")]):
        r = await home.api.post("/ingest/Observation", headers=tablet,
                                json=observation(patient, f"later-{n}", code=code, value=value,
                                                 unit=unit))
        assert r.status_code == 201, r.text

    async def later_shown() -> None:
        now = {c: o["value"] for c, o in (await _overview(home, patient)).items()}
        assert now.get(SPO2) == 91 and now.get(PULSE) == 64
    await passes(later_shown, 30, 0.1)

    # the record as it stood: the first value only, then nothing from the device at all
    then = await _overview(home, patient, as_of=between.isoformat())
    assert then[SPO2]["value"] == 96 and PULSE not in then
    assert SPO2 not in await _overview(home, patient, as_of=before_any.isoformat())

    # the timeline: one entry for the tablet, with its count of values, among the journal's
    everything = await _timeline(home, patient)
    assert _devices(everything) == [{
        "device": "tablet-a", "values": 3, "codes": sorted([SPO2, PULSE]),
        "first_measured": _devices(everything)[0]["first_measured"],
        "last_measured": _devices(everything)[0]["last_measured"]}]
    assert any(e["event"] != "DeviceMeasurements" for e in everything["entries"])
    assert [d["values"] for d in _devices(await _timeline(
        home, patient, as_of=between.isoformat()))] == [1]

    # page by page (one journal entry a page): every device value exactly once
    seen, before = 0, None
    while True:
        page = await _timeline(home, patient, limit=1,
                               **({"before": before} if before else {}))
        seen += sum(d["values"] for d in _devices(page))
        before = page["next"]
        if before is None:
            break
    assert seen == 3
