"""Issue 12, finding 6 on the journal (real PostgreSQL and Kafka): a record whose history grows
does not make its reads and writes slower. After 20,000 Observations the attacker's timeline took
8.7 s, because every read folded the whole stream and every write re-read a document holding every
observation. Now:
- observations live in their own read model, not in the record's document, which stays the same
  size however many are recorded; the overview's latest vital signs come from it;
- a correction is decided on the one observation, folded from its own events;
- the patient's state is snapshotted, so a restarted process folds only the events after the
  newest snapshot;
- the timeline is read a page at a time, newest first, with a ``next`` cursor.
(Timings are ``bench/`` work: ``make bench``, bench/RESULTS.md. These tests assert what a user or
operator would notice: sizes, counts, pages and answers.)"""

from __future__ import annotations

from sqlalchemy import text

from libs.events.streams import StreamStore
from services.journal.contract import stream_of
from services.journal.store import SNAPSHOT_EVERY, JournalStore
from tests.journal.conftest import Clinic
from tests.journal.test_limits import _bundle, _patient
from tests.support.counting import CountingStore

BUNDLES, PER_BUNDLE = 3, 400


async def _record_bytes(clinic: Clinic, patient_id: str) -> int:
    async with clinic.journal_app.state.reader.engine.connect() as conn:
        return (await conn.execute(text(
            "SELECT octet_length(doc::text) FROM journal_records WHERE patient_id = :p"),
            {"p": patient_id})).scalar_one()


async def _measured(clinic: Clinic, patient_id: str, nurse: dict, bundles: int,
                    sent: list[dict] | None = None) -> str:
    """``bundles`` transactions of ``PER_BUNDLE`` pulse measurements (each appended to
    ``sent``); the last write's token."""
    token = ""
    for b in range(bundles):
        bundle = _bundle(patient_id, PER_BUNDLE)
        for n, entry in enumerate(bundle["entry"]):
            entry["resource"]["id"] = f"obs-{b}-{n}"
        r = await clinic.journal.post("/fhir", headers=nurse, json=bundle)
        assert r.status_code == 200, r.text
        token = r.headers["X-Consistency-Token"]
        if sent is not None:
            sent.append(bundle)
    return token


async def test_a_long_series_of_observations_leaves_the_record_its_size(clinic: Clinic):
    patient_id = await _patient(clinic)
    nurse = clinic.nurse()
    r = await clinic.journal.post(f"/patients/{patient_id}/observations", headers=nurse,
                                  json={"code": "8480-6", "value": 140})
    assert r.status_code == 201, r.text
    first = r.json()["observation_id"]
    token = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
    assert (await clinic.journal.get(f"/patients/{patient_id}", headers=nurse | token)
            ).status_code == 200
    before = await _record_bytes(clinic, patient_id)

    sent: list[dict] = []
    token = {"X-Consistency-Token": await _measured(clinic, patient_id, nurse, BUNDLES, sent)}
    r = await clinic.journal.get(f"/patients/{patient_id}", headers=nurse | token)
    assert r.status_code == 200, r.text
    assert await _record_bytes(clinic, patient_id) == before   # the series is not in it
    latest = {o["code"]: o for o in r.json()["latest_vital_signs"]}
    assert set(latest) == {"8480-6", "8867-4"}
    assert latest["8480-6"]["observation_id"] == first
    pulse = latest["8867-4"]   # the newest of 1,200 pulses (the bundles' first entry)
    assert pulse["value"] == 40.0

    # the newest pulse entered in error: the overview falls back to the one before it
    r = await clinic.journal.post(
        f"/patients/{patient_id}/observations/{pulse['observation_id']}/entered-in-error",
        headers=nurse, json={"reason": "feil pasient"})
    assert r.status_code == 200, r.text
    token = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
    r = await clinic.journal.get(f"/patients/{patient_id}", headers=nurse | token)
    latest = {o["code"]: o for o in r.json()["latest_vital_signs"]}
    assert latest["8867-4"]["observation_id"] != pulse["observation_id"]
    assert latest["8867-4"]["effective_at"] < pulse["effective_at"]

    # the oldest observation is corrected, found among 1,200 others; again is a 409
    r = await clinic.journal.post(f"/patients/{patient_id}/observations/{first}/corrections",
                                  headers=nurse, json={"value": 150, "reason": "feil avlest"})
    assert r.status_code == 201, r.text
    token = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
    r = await clinic.journal.post(
        f"/patients/{patient_id}/observations/{pulse['observation_id']}/entered-in-error",
        headers=nurse, json={"reason": "igjen"})
    assert r.status_code == 409, r.text
    r = await clinic.journal.get(f"/fhir/Observation/{first}", headers=nurse | token)
    assert r.status_code == 200 and r.json()["status"] == "amended", r.text

    # the same import again writes nothing: the record knows its observations by id
    version = (await clinic.journal.get(f"/patients/{patient_id}/timeline", headers=nurse,
                                        params={"limit": 1})).json()["version"]
    r = await clinic.journal.post("/fhir", headers=nurse, json=sent[0])
    assert r.status_code == 200, r.text
    assert (await clinic.journal.get(f"/patients/{patient_id}/timeline", headers=nurse,
                                     params={"limit": 1})).json()["version"] == version


async def test_a_restarted_journal_folds_only_what_came_after_the_snapshot(clinic: Clinic):
    patient_id = await _patient(clinic)
    nurse = clinic.nurse()
    await _measured(clinic, patient_id, nurse, 2)
    running: JournalStore = clinic.journal_app.state.journal
    state, version = await running.current(patient_id)
    assert version > 2 * PER_BUNDLE

    store = CountingStore(running.store)
    restarted = JournalStore(store)            # a new process: nothing cached
    assert await restarted.current(patient_id) == (state, version)
    assert store.loaded < SNAPSHOT_EVERY       # not the whole stream
    whole = CountingStore(running.store)
    assert (await StreamStore(whole, stream_of=stream_of, empty=type(state).unknown,
                              evolve=restarted.evolve).current(patient_id)) == (state, version)
    assert whole.loaded == version


async def test_the_timeline_is_read_a_page_at_a_time(clinic: Clinic):
    patient_id = await _patient(clinic)
    nurse = clinic.nurse()
    await _measured(clinic, patient_id, nurse, 1)
    r = await clinic.journal.get(f"/patients/{patient_id}/timeline", headers=nurse,
                                 params={"limit": 150})
    assert r.status_code == 200, r.text
    version, seen, pages = r.json()["version"], [], 0
    while True:
        body = r.json()
        seen += [e["version"] for e in body["entries"]]
        pages += 1
        if body["next"] is None:
            break
        r = await clinic.journal.get(f"/patients/{patient_id}/timeline", headers=nurse,
                                     params={"limit": 150, "before": body["next"]})
        assert r.status_code == 200, r.text
    assert seen == list(range(version, 0, -1))   # every change once, newest first
    assert pages == -(-version // 150)
    assert body["entries"][-1]["event"] == "PatientRegistered"
    for bad in ({"before": 0}, {"before": "x"}, {"limit": 1001}):
        r = await clinic.journal.get(f"/patients/{patient_id}/timeline", headers=nurse,
                                     params=bad)
        assert r.status_code == 422, (bad, r.text)
