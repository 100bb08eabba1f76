"""kill -9 of the medication service under write load: an acknowledged order or dose given
survives any crash.

The consent service runs in-process (it gives the GP's office and home care their care
relations); the medication service runs as its own process on a free port, so it can be killed
with SIGKILL. Several clients order products for the patients (as the GP, a prescriber, with
``If-Match``: a 412 is a lost race, re-read and go on) and record as-needed doses given (as the
home-care nurse); the service is killed mid-load and started again on the same schema. Every
write that got a 2xx answer is then in the event store once, in the read model (the list and
each entry's administrations) and in FHIR search once; every one of them has its access-log
entry, and the hash chains verify.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from uuid import uuid4

import httpx
import pytest
from sqlalchemy import text

from libs.audit.verify import verify_db
from libs.access.model import Role
from services.medication.catalogue import sample_catalogue
from services.medication.contract import stream_of
from tests.journal.conftest import GP_OFFICE, HOME_CARE, MUNICIPALITY
from tests.support.service_process import beside_consent
from tests.support.waiting import eventually, passes

pytestmark = pytest.mark.fault

PATIENTS = 20
WRITERS = 8
KILL_AFTER = 200          # acknowledged writes before the kill
ORDER_EVERY = 3           # one write in three is an order, the rest doses given
PRODUCTS = [p.id for p in sample_catalogue().active_products()]
# as needed, at most 20 a day: an entry takes many doses before the daily maximum's 409
AS_NEEDED = {"amount": 1, "unit": "tablett", "route": "oral", "as_needed": True,
             "max_per_day": 20}


def medication_list(patient: str) -> str:
    return f"/patients/{patient}/medication-list"


@dataclass
class Acked:
    """What the medication service acknowledged (2xx), per patient."""

    entries: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    given: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    tags: list[str] = field(default_factory=list)          # X-Purpose-Of-Use of each write
    last: dict[str, tuple[int, str]] = field(default_factory=dict)  # version, token
    lost_races: int = 0       # 412: the list had changed since the writer's last look
    refused: int = 0          # 409: the daily maximum, or five lost races for the stream

    def __len__(self) -> int:
        return len(self.tags)

    def remember(self, patient: str, tag: str, r: httpx.Response) -> None:
        self.tags.append(tag)
        version = int(r.headers["ETag"].removeprefix("W/").strip('"'))
        if version > self.last.get(patient, (0, ""))[0]:
            self.last[patient] = (version, r.headers["X-Consistency-Token"])

    def token(self, patient: str) -> dict[str, str]:
        last = self.last.get(patient)
        return {"X-Consistency-Token": last[1]} if last else {}


async def write_load(url: str, prescriber: dict, nurse: dict, patients: list[str],
                     acked: Acked, writer: int) -> None:
    """Orders and as-needed doses given, round the patients, until the server is gone."""
    seen: dict[str, str] = {}     # the list version this writer last saw, per patient
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        for i in range(100_000):
            patient = patients[(writer * 3 + i) % len(patients)]
            tag = f"crash-{writer}-{i}"
            entries = list(acked.entries[patient])
            try:
                if i % ORDER_EVERY == 0 or not entries:
                    r = await order(c, prescriber, patient, tag, seen, acked, writer + i)
                    if r is None:
                        continue
                    acked.entries[patient][r.json()["entry_id"]] = tag
                else:
                    entry = entries[(writer + i) % len(entries)]
                    r = await c.post(f"{medication_list(patient)}/entries/{entry}/administrations",
                                     headers=nurse | {"X-Purpose-Of-Use": tag},
                                     json={"outcome": "given", "note": tag})
                    if r.status_code == 409:
                        acked.refused += 1
                        continue
                    assert r.status_code == 201, r.text
                    acked.given[patient][r.json()["administration_id"]] = entry
            except httpx.HTTPError:
                return                   # killed: this write was never acknowledged
            seen[patient] = r.headers["ETag"]
            acked.remember(patient, tag, r)


async def order(c: httpx.AsyncClient, prescriber: dict, patient: str, tag: str,
                seen: dict[str, str], acked: Acked, pick: int) -> httpx.Response | None:
    """Order a product against the version last seen; on a lost race (412) read the list again
    and try once more against what it shows. None when that race is lost too."""
    body = {"product_id": PRODUCTS[pick % len(PRODUCTS)], "dose": AS_NEEDED,
            "indication": f"Smerter {tag}", "override_reason": "Vurdert, fordelen er størst."}
    for _ in range(2):
        r = await c.post(f"{medication_list(patient)}/prescriptions", json=body,
                         headers=prescriber | {"X-Purpose-Of-Use": tag,
                                               "If-Match": seen.get(patient, 'W/"0"')})
        if r.status_code != 412:
            assert r.status_code == 201, r.text
            return r
        acked.lost_races += 1
        read = await c.get(medication_list(patient), headers=prescriber | acked.token(patient))
        assert read.status_code == 200, read.text
        seen[patient] = read.headers["ETag"]
    return None


async def test_medication_killed_under_write_load_loses_no_acknowledged_write(
        database_url, kafka_bootstrap, schema, engine, make_topics, tmp_path):
    topics = {t: await make_topics(t, 3) for t in ("consent.events", "audit.access",
                                                   "journal.events", "medication.events")}
    async with beside_consent("medication", database_url, schema, kafka_bootstrap, topics,
                              tmp_path) as it:
        consent, medication, url = it.consent, it.client, it.url
        prescriber = {"Authorization": "Bearer " + it.issuer.mint_practitioner(
            "7654321", MUNICIPALITY, GP_OFFICE, (Role.physician, Role.prescriber),
            "Lege Fastlege")}
        nurse = {"Authorization": "Bearer " + it.issuer.mint_practitioner(
            "9144889", MUNICIPALITY, HOME_CARE, (Role.nurse,), "Nina Sykepleier")}
        # the leaders of the GP's office and home care assign each a relation with every patient
        # (a care relation needs no registered person: the patients are plain ids here)
        patients = [str(uuid4()) for _ in range(PATIENTS)]
        relation_tokens: dict[tuple[str, str], str] = {}
        for p in patients:
            for who, unit in (("gp", GP_OFFICE), ("nurse", HOME_CARE)):
                leader = {"Authorization": "Bearer " + it.issuer.mint_practitioner(
                    "1234567", MUNICIPALITY, unit, (Role.unit_leader,), "Leder")}
                r = await consent.post(f"/patients/{p}/care-relations", headers=leader,
                                       json={"purpose": "legemiddelhåndtering",
                                             "basis": "service_decision", "reason": "vedtak"})
                assert r.status_code == 201, r.text
                relation_tokens[p, who] = r.headers["X-Consistency-Token"]
        for (p, who), token in relation_tokens.items():   # the service sees the relations
            headers = prescriber if who == "gp" else nurse

            async def allowed(p=p, headers=headers, token=token) -> None:
                r = await medication.get(medication_list(p), headers=headers | {
                    "X-Consistency-Token": token})
                assert r.status_code == 200, r.text
            await passes(allowed, timeout_s=60, interval_s=0.2)

        acked = Acked()
        writers = [asyncio.create_task(write_load(url, prescriber, nurse, patients, acked,
                                                  w)) for w in range(WRITERS)]
        await eventually(lambda: len(acked) >= KILL_AFTER or all(w.done() for w in writers),
                         90, what="writes under way")
        assert not any(w.done() for w in writers), [w.exception() for w in writers]
        it.kill()                     # SIGKILL, mid-load
        await asyncio.gather(*writers)
        assert len(acked) >= KILL_AFTER
        assert sum(map(len, acked.entries.values())) and sum(map(len, acked.given.values()))

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

        # 2. restarted on the same schema: the read model catches up, then FHIR search
        await it.restart()
        for p in patients:
            await passes(lambda p=p: read_model_has(medication, prescriber, p, acked),
                         90, 0.5)
        for p in patients:
            await passes(lambda p=p: fhir_has(medication, prescriber, p, acked), 30, 0.5)
    after = await verify_db(database_url, schema)
    assert after.problems == [] and after.entries > report.entries


async def assert_in_event_store(engine, acked: Acked) -> None:
    async with engine.connect() as conn:
        rows = (await conn.execute(text("""
            SELECT stream_id, type, envelope->'data' FROM events
             WHERE stream_id LIKE 'medication-%' AND type IN (
                   'medication.MedicationPrescribed', 'medication.MedicationAdministered')
             ORDER BY position"""))).all()
    prescribed: Counter = Counter()
    administered: Counter = Counter()
    given_on: dict[tuple[str, str], str] = {}
    texts: Counter = Counter()       # the writer's tag, in the indication or the note
    for stream, kind, data in rows:
        match kind:
            case "medication.MedicationPrescribed":
                prescribed[(stream, data["entry_id"])] += 1
                texts[data["indication"]] += 1
            case "medication.MedicationAdministered":
                administered[(stream, data["administration_id"])] += 1
                given_on[(stream, data["administration_id"])] = data["entry_id"]
                texts[data["note"]] += 1
    for patient, entries in acked.entries.items():
        for entry_id, tag in entries.items():
            key = (stream_of(patient), entry_id)
            assert prescribed[key] == 1, (key, prescribed[key])
            assert texts[f"Smerter {tag}"] == 1, tag
    for patient, given in acked.given.items():
        for administration_id, entry_id in given.items():
            key = (stream_of(patient), administration_id)
            assert administered[key] == 1, (key, administered[key])
            assert given_on[key] == entry_id
    # nothing written twice, acknowledged or not (a write the kill cut off is there once or not
    # at all)
    assert max(texts.values()) == 1
    assert max(prescribed.values()) == 1 and max(administered.values()) == 1


async def read_model_has(medication: httpx.AsyncClient, prescriber: dict, patient: str,
                         acked: Acked) -> None:
    """The list, read with the patient's last token, has every acknowledged entry once; each
    entry's details have its acknowledged doses given, once."""
    headers = prescriber | acked.token(patient)
    r = await medication.get(medication_list(patient), headers=headers)
    assert r.status_code == 200, r.text
    ids = [e["entry_id"] for e in r.json()["entries"]]
    assert len(ids) == len(set(ids)), "an entry appears twice on the list"
    missing = set(acked.entries[patient]) - set(ids)
    assert not missing, f"acknowledged entries {missing} missing from the list"
    wanted: dict[str, set[str]] = defaultdict(set)
    for administration_id, entry_id in acked.given[patient].items():
        wanted[entry_id].add(administration_id)
    for entry_id, given in wanted.items():
        r = await medication.get(f"{medication_list(patient)}/entries/{entry_id}",
                                 headers=headers)
        assert r.status_code == 200, r.text
        found = [a["administration_id"] for a in r.json()["administrations"]]
        assert len(found) == len(set(found)), "a dose given appears twice"
        assert given <= set(found), f"{len(given - set(found))} acknowledged doses missing"


async def fhir_has(medication: httpx.AsyncClient, prescriber: dict, patient: str,
                   acked: Acked) -> None:
    """FHIR search: every acknowledged entry as a MedicationStatement and every dose given as a
    MedicationAdministration, once."""
    for rtype, wanted, params in (
            ("MedicationStatement", set(acked.entries[patient]), {}),
            ("MedicationAdministration", set(acked.given[patient]), {"_count": 500})):
        r = await medication.get(f"/fhir/{rtype}", headers=prescriber,
                                 params={"patient": patient} | params)
        assert r.status_code == 200, r.text
        bundle = r.json()
        ids = [e["resource"]["id"] for e in bundle.get("entry", [])]
        assert bundle["total"] == len(ids), "more than one page: raise _count"
        assert len(ids) == len(set(ids)), f"a {rtype} appears twice"
        assert wanted <= set(ids), f"{len(wanted - set(ids))} acknowledged {rtype}s missing"
