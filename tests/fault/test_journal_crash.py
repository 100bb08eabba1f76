"""kill -9 of the journal under write load: an acknowledged write survives any crash.

The consent service runs in-process; the journal runs as its own process on a free port (so it
can be killed with SIGKILL). Several clients write signed notes and vital signs for a nurse's
patients; the journal is killed mid-load and started again on the same schema. Every write that
got a 2xx answer is then in the event store, in the read model (REST) and in FHIR search, once;
every one of them has its access-log entry, and the hash chains verify.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date

import httpx
import pytest
from sqlalchemy import text

from libs.audit.verify import verify_db
from libs.kernel.identifiers import synthetic_number
from services.journal.contract import stream_of
from tests.journal.conftest import ALLOCATION, HOME_CARE, MUNICIPALITY
from tests.support.service_process import beside_consent
from tests.support.waiting import eventually, passes

pytestmark = pytest.mark.fault

PATIENTS = 20
WRITERS = 8
KILL_AFTER = 200          # acknowledged writes before the kill


@dataclass
class Acked:
    """What the journal acknowledged (2xx), per patient."""

    notes: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    observations: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    tags: list[str] = field(default_factory=list)          # X-Purpose-Of-Use of each write
    last: dict[str, tuple[int, str]] = field(default_factory=dict)  # version, token
    conflicts: int = 0

    def __len__(self) -> int:
        return len(self.tags)

    def remember(self, patient: str, tag: str, r: httpx.Response) -> None:
        self.tags.append(tag)
        version = int(r.headers["ETag"].removeprefix("W/").strip('"'))
        if version > self.last.get(patient, (0, ""))[0]:
            self.last[patient] = (version, r.headers["X-Consistency-Token"])


async def write_load(url: str, nurse: dict, patients: list[str], acked: Acked,
                     writer: int) -> None:
    """Signed notes and pulse readings, round the patients, until the server is gone."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        for i in range(100_000):
            patient = patients[(writer * 3 + i) % len(patients)]
            tag = f"crash-{writer}-{i}"
            headers = nurse | {"X-Purpose-Of-Use": tag}
            try:
                if i % 2 == 0:
                    r = await c.post(f"/patients/{patient}/notes", params={"sign": "true"},
                                     headers=headers, json={"kind": "home_care_visit",
                                                            "text": f"Besøk {tag}."})
                else:
                    r = await c.post(f"/patients/{patient}/observations", headers=headers,
                                     json={"code": "8867-4", "value": 50 + i % 60})
            except httpx.HTTPError:
                return                   # killed: this write was never acknowledged
            if r.status_code == 409:     # lost a race for the stream five times: refused, fine
                acked.conflicts += 1
                continue
            assert r.status_code == 201, r.text
            if i % 2 == 0:
                acked.notes[patient][r.json()["note_id"]] = f"Besøk {tag}."
            else:
                acked.observations[patient].add(r.json()["observation_id"])
            acked.remember(patient, tag, r)


async def test_journal_killed_under_write_load_loses_no_acknowledged_write(
        database_url, kafka_bootstrap, schema, engine, make_topics, tmp_path):
    topics = {t: await make_topics(t, 3) for t in ("consent.events", "audit.access",
                                                   "journal.events", "welfare.events")}
    async with beside_consent("journal", database_url, schema, kafka_bootstrap, topics,
                              tmp_path) as it:
        consent, journal, url = it.consent, it.client, it.url
        nurse = {"Authorization": "Bearer " + it.issuer.mint_practitioner(
            "9144889", MUNICIPALITY, HOME_CARE, ("nurse",), "Nina Sykepleier")}
        case_worker = {"Authorization": "Bearer " + it.issuer.mint_practitioner(
            "5550001", MUNICIPALITY, ALLOCATION, ("other",), "Kari Saksbehandler")}
        leader = {"Authorization": "Bearer " + it.issuer.mint_practitioner(
            "1234567", MUNICIPALITY, HOME_CARE, ("unit_leader",), "Leder")}

        # the case worker registers the patients; the home-care leader assigns the relations
        patients, relation_tokens = [], {}
        for slot in range(PATIENTS):
            r = await journal.post("/patients", headers=case_worker, json={
                "national_id": synthetic_number(date(1938, 5, 17), slot),
                "name": {"given": "Astrid", "family": f"Hansen {slot}"}, "sex": "female",
                "address": {"municipality": "0301"}})
            assert r.status_code == 201, r.text
            patients.append(r.json()["patient_id"])
        for p in patients:
            r = await consent.post(f"/patients/{p}/care-relations", headers=leader,
                                   json={"purpose": "hjemmesykepleie",
                                         "basis": "service_decision", "reason": "vedtak"})
            assert r.status_code == 201, r.text
            relation_tokens[p] = r.headers["X-Consistency-Token"]
        for p in patients:            # the journal sees the relation and the patient
            async def allowed(p=p) -> None:
                r = await journal.get(f"/patients/{p}", headers=nurse | {
                    "X-Consistency-Token": relation_tokens[p]})
                assert r.status_code == 200, r.text
            await passes(allowed, timeout_s=60, interval_s=0.2)

        acked = Acked()
        writers = [asyncio.create_task(write_load(url, nurse, patients, acked, w))
                   for w in range(WRITERS)]
        await eventually(lambda: len(acked) >= KILL_AFTER or all(w.done() for w in writers),
                         90, what="writes under way")
        assert not any(w.done() for w in writers), [w.exception() for w in writers]
        it.kill()                     # SIGKILL, mid-load
        await asyncio.gather(*writers)
        assert len(acked) >= KILL_AFTER

        # 1. the event store holds every acknowledged write, once
        await assert_in_event_store(engine, acked)
        async with engine.connect() as conn:
            logged = {r[0] for r in await conn.execute(text("""
                SELECT envelope->'data'->>'purpose_of_use' FROM events
                 WHERE type = 'audit.AccessLogged'"""))}
        missing = [t for t in acked.tags if t not in logged]
        assert missing == [], f"{len(missing)} acknowledged writes have no access-log entry"
        report = await verify_db(database_url, schema)
        assert report.problems == [] and report.entries >= len(acked)

        # 2. restarted on the same schema: the read model and FHIR catch up
        await it.restart()
        for p in patients:
            await passes(lambda p=p: read_model_has(journal, nurse, p, acked), 90, 0.5)
            await passes(lambda p=p: fhir_has(journal, nurse, p, acked), 30, 0.5)
    after = await verify_db(database_url, schema)
    assert after.problems == [] and after.entries > report.entries


async def assert_in_event_store(engine, acked: Acked) -> None:
    async with engine.connect() as conn:
        rows = (await conn.execute(text("""
            SELECT stream_id, type, envelope->'data' FROM events
             WHERE stream_id LIKE 'journal-%' AND type IN (
                   'journal.NoteDrafted', 'journal.NoteSigned', 'journal.ObservationRecorded')
             ORDER BY position"""))).all()
    drafted: Counter = Counter()
    signed: Counter = Counter()
    texts: Counter = Counter()
    observed: Counter = Counter()
    for stream, kind, data in rows:
        match kind:
            case "journal.NoteDrafted":
                drafted[(stream, data["note_id"])] += 1
                texts[data["text"]] += 1
            case "journal.NoteSigned":
                signed[(stream, data["note_id"])] += 1
            case "journal.ObservationRecorded":
                observed[(stream, data["observation_id"])] += 1
    for patient, notes in acked.notes.items():
        for note_id, note_text in notes.items():
            key = (stream_of(patient), note_id)
            assert drafted[key] == 1 and signed[key] == 1, (key, drafted[key], signed[key])
            assert texts[note_text] == 1, note_text
    for patient, observations in acked.observations.items():
        for observation_id in observations:
            assert observed[(stream_of(patient), observation_id)] == 1, observation_id
    # nothing written twice, acknowledged or not (a write the kill cut off is there once or not
    # at all)
    assert max(texts.values()) == 1 and max(signed.values()) == 1
    assert max(drafted.values()) == 1 and max(observed.values()) == 1


async def read_model_has(journal: httpx.AsyncClient, nurse: dict, patient: str,
                         acked: Acked) -> None:
    """GET /patients/{id}/notes with the patient's last token: every acknowledged note, signed,
    once."""
    token = acked.last.get(patient, (0, None))[1]
    r = await journal.get(f"/patients/{patient}/notes",
                          headers=nurse | ({"X-Consistency-Token": token} if token else {}))
    assert r.status_code == 200, r.text
    notes = r.json()["notes"]
    ids = [n["note_id"] for n in notes]
    assert len(ids) == len(set(ids)), "a note appears twice in the read model"
    by_id = {n["note_id"]: n for n in notes}
    for note_id, note_text in acked.notes[patient].items():
        assert note_id in by_id, f"acknowledged note {note_id} missing from the read model"
        assert by_id[note_id]["status"] == "signed" and by_id[note_id]["text"] == note_text


async def fhir_has(journal: httpx.AsyncClient, nurse: dict, patient: str, acked: Acked) -> None:
    """FHIR search: every acknowledged note as a DocumentReference and every reading as an
    Observation, once."""
    for rtype, wanted in (("DocumentReference", set(acked.notes[patient])),
                          ("Observation", acked.observations[patient])):
        r = await journal.get(f"/fhir/{rtype}", headers=nurse,
                              params={"patient": patient, "_count": 500})
        assert r.status_code == 200, r.text
        bundle = r.json()
        ids = [e["resource"]["id"] for e in bundle.get("entry", [])]
        assert bundle["total"] == len(ids), "more than one page: raise _count"
        assert len(ids) == len(set(ids)), f"a {rtype} appears twice"
        assert wanted <= set(ids), f"{len(wanted - set(ids))} acknowledged {rtype}s missing"
