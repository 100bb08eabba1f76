"""Issue 12 on the journal (real PostgreSQL and Kafka): bounded requests (finding 4) and dates at
the edge (finding 5). A body over ``max_body_bytes`` and a Bundle over ``max_bundle_entries``
are 413s that write nothing; another user's read answers while a maximal Bundle is still being
sent; ``as_of`` and ``day`` out of range are 422s (they were 500s); a clinical time before the
patient's birth, out of range or in the future is a 422."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime, timedelta

from services.journal.fhir import deciders
from tests.journal.conftest import Clinic
from tests.journal.test_fhir_api import _observation

EDGE_INSTANTS = ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00")
EDGE_DAYS = ("9999-12-31", "0001-01-01")


async def _patient(clinic: Clinic) -> str:
    """A patient (born 1941-03-02) the home-care nurse may see."""
    patient_id, _ = await clinic.register()
    await clinic.home_care_granted(patient_id)
    await clinic.until_allowed(clinic.nurse(), patient_id)
    return patient_id


def _bundle(patient_id: str, n: int) -> dict:
    """A transaction of ``n`` pulse measurements, a second apart."""
    at = datetime.now(UTC) - timedelta(minutes=10)
    entries = []
    for i in range(n):
        entry = _observation(f"Patient/{patient_id}", "8867-4", 40 + i % 100, "/min",
                             at - timedelta(seconds=i))
        entry["resource"]["id"] = f"obs-{i}"
        entries.append(entry)
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _outcome(r, status: int) -> str:
    assert r.status_code == status, r.text
    assert r.json()["resourceType"] == "OperationOutcome", r.text
    return " ".join(i["diagnostics"] for i in r.json()["issue"])


async def test_bodies_and_bundles_over_the_limits_are_413_and_write_nothing(clinic: Clinic):
    patient_id = await _patient(clinic)
    nurse = clinic.nurse()
    version = (await clinic.journal.get(f"/patients/{patient_id}", headers=nurse)).headers["ETag"]
    limits = clinic.journal_app.state.settings
    big = json.dumps(_bundle(patient_id, 2)).encode()
    big = big[:-1] + b" " * (limits.max_body_bytes + 1 - len(big)) + b"}"

    r = await clinic.journal.post("/fhir", headers=nurse | {"Content-Type": "application/json"},
                                  content=big)   # Content-Length
    assert "larger than" in _outcome(r, 413)

    async def chunked():
        for start in range(0, len(big), 64 * 1024):
            yield big[start:start + 64 * 1024]
    r = await clinic.journal.post("/fhir", headers=nurse | {"Content-Type": "application/json"},
                                  content=chunked())
    assert "larger than" in _outcome(r, 413)

    r = await clinic.journal.post("/fhir", headers=nurse,
                                  json=_bundle(patient_id, limits.max_bundle_entries + 1))
    assert f"{limits.max_bundle_entries + 1} entries" in _outcome(r, 413)

    r = await clinic.journal.post(
        f"/patients/{patient_id}/observations", headers=nurse | {
            "Content-Type": "application/json"},
        content=b'{"code": "8867-4", "value": 70, "value": 250}')
    assert "body: the key 'value' appears more than once" in _outcome(r, 422)

    r = await clinic.journal.get(f"/patients/{patient_id}", headers=nurse)
    assert r.headers["ETag"] == version, "nothing was written"


async def test_another_users_read_answers_while_a_maximal_bundle_is_sent_and_processed(
        clinic: Clinic, monkeypatch):
    """Shown by order, not by the clock: a read by another user of another patient is answered
    while a maximal Bundle (``max_bundle_entries`` entries, ``max_body_bytes`` bytes) is half
    sent, and again while it is being checked (held there until the read has answered: were
    the check run on the event loop, nothing else would be answered until it ended)."""
    patient_id, other = await _patient(clinic), await _patient(clinic)
    nurse, case_worker = clinic.nurse(), clinic.case_worker()
    limits = clinic.journal_app.state.settings
    body = json.dumps(_bundle(patient_id, limits.max_bundle_entries)).encode()
    body = body[:-1] + b" " * (limits.max_body_bytes - len(body)) + b"}"   # maximal, both ways
    half, go_on = asyncio.Event(), asyncio.Event()
    checking, read_answered = threading.Event(), threading.Event()
    order: list[str] = []
    check = deciders.validate_bundle

    def held_check(bundle):
        checking.set()
        # until the read below has been answered (or, were this the event loop, never: the
        # read cannot be answered while the loop waits here, and the wait gives up)
        order.append("read answered during the check" if read_answered.wait(30)
                     else "check ended without the read")
        return check(bundle)
    monkeypatch.setattr(deciders, "validate_bundle", held_check)

    async def slowly():
        yield body[:len(body) // 2]
        half.set()
        await go_on.wait()
        yield body[len(body) // 2:]

    upload = asyncio.create_task(clinic.journal.post(
        "/fhir", headers=nurse | {"Content-Type": "application/json"}, content=slowly()))
    await asyncio.wait_for(half.wait(), 30)
    r = await clinic.journal.get(f"/patients/{other}", headers=case_worker)
    assert r.status_code == 200 and not upload.done(), r.text      # while being sent
    go_on.set()
    assert await asyncio.to_thread(checking.wait, 60)
    r = await clinic.journal.get(f"/patients/{other}", headers=case_worker)
    assert r.status_code == 200, r.text                             # while being processed
    read_answered.set()
    r = await asyncio.wait_for(upload, 300)
    assert r.status_code == 200, r.text
    assert len(r.json()["entry"]) == limits.max_bundle_entries
    assert order == ["read answered during the check"]


async def test_as_of_and_day_out_of_range_are_422_not_500(clinic: Clinic):
    patient_id = await _patient(clinic)
    nurse = clinic.nurse()
    for path in (f"/patients/{patient_id}", f"/patients/{patient_id}/timeline",
                 f"/patients/{patient_id}/notes", "/fhir/Observation",
                 f"/fhir/Patient/{patient_id}"):
        for as_of in EDGE_INSTANTS:
            params = {"as_of": as_of} | ({"patient": patient_id} if "Observation" in path
                                        else {})
            r = await clinic.journal.get(path, headers=nurse, params=params)
            assert "as_of" in _outcome(r, 422), (path, as_of)
    r = await clinic.journal.get("/fhir/Observation", headers=nurse, params={
        "patient": patient_id, "date": "lt0001-01-01T00:00:00+14:00"})
    assert "date" in _outcome(r, 422)
    for day in EDGE_DAYS:
        r = await clinic.journal.get("/worklist", headers=nurse, params={"day": day})
        assert "day" in _outcome(r, 422), day
    # within the range: answered (a future as_of is the record as it stands)
    r = await clinic.journal.get(f"/patients/{patient_id}", headers=nurse,
                                 params={"as_of": "2199-12-31T23:59:59+00:00"})
    assert r.status_code == 200, r.text
    r = await clinic.journal.get("/worklist", headers=nurse, params={"day": "2199-12-31"})
    assert r.status_code == 200, r.text


async def test_clinical_times_are_after_birth_and_not_in_the_future(clinic: Clinic):
    patient_id = await _patient(clinic)   # born 1941-03-02
    nurse = clinic.nurse()
    url = f"/patients/{patient_id}/observations"
    now = datetime.now(UTC)
    for at, says in (("0001-01-01T00:00:00+14:00", "effective_at"),
                     ("9999-12-31T23:59:59-14:00", "effective_at"),
                     ("1941-03-01T12:00:00+00:00", "birth"),
                     ((now + timedelta(hours=1)).isoformat(), "future")):
        r = await clinic.journal.post(url, headers=nurse, json={
            "code": "8867-4", "value": 70, "effective_at": at})
        assert says in _outcome(r, 422), at
    r = await clinic.journal.post(f"/patients/{patient_id}/conditions", headers=nurse, json={
        "system": "ICPC-2", "code": "K86", "onset": "1900-01-01"})
    assert "birth" in _outcome(r, 422)
    r = await clinic.journal.post("/fhir", headers=nurse, json={
        "resourceType": "Bundle", "type": "transaction", "entry": [_observation(
            f"Patient/{patient_id}", "8867-4", 70, "/min",
            datetime.fromisoformat("0001-01-01T00:00:00+14:00"))]})
    _outcome(r, 422)
    # the birth day itself, and a moment ago, are fine
    for at in ("1941-03-02T08:00:00+01:00", (now - timedelta(minutes=1)).isoformat()):
        r = await clinic.journal.post(url, headers=nurse, json={
            "code": "8867-4", "value": 70, "effective_at": at})
        assert r.status_code == 201, r.text
