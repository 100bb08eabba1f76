"""Finding the person in front of a professional by national id (``Patient?identifier=``, and
POST ``Patient/_search`` with the number in a form body) on the real stack: the look-up is a
logged access with its purpose, need-to-know decides what it returns, a patient the caller may
not see reads exactly like a number nobody has, and the number reaches no log and no Kafka key,
header or access-log event."""

from __future__ import annotations

import json
import logging

from aiokafka import AIOKafkaConsumer

from libs.kernel.identifiers import IdentifierSystem
from tests.journal.conftest import Clinic
from tests.support.waiting import passes

FNR = IdentifierSystem.FNR


async def _get(clinic: Clinic, headers: dict, number: str, system: str = FNR):
    return await clinic.journal.get("/fhir/Patient", headers=headers,
                                    params={"identifier": f"{system}|{number}"})


async def _post(clinic: Clinic, headers: dict, number: str):
    return await clinic.journal.post("/fhir/Patient/_search", headers=headers,
                                     data={"identifier": f"{FNR}|{number}"})


def _found(r) -> list[str]:
    assert r.status_code == 200, r.text
    bundle = r.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    assert bundle["total"] == len(bundle.get("entry", []))   # no empty arrays in FHIR JSON
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


async def _access_log(clinic: Clinic, kafka_bootstrap: str, done) -> list:
    """Every record on the access-log topic, read until ``done(records)`` holds."""
    topic = clinic.journal_app.state.access.logger.store.topic_names["audit.access"]
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    records: list = []
    await consumer.start()
    try:
        async def complete():
            batch = await consumer.getmany(timeout_ms=200)
            records.extend(r for part in batch.values() for r in part)
            assert done(records), f"{len(records)} access-log records so far"
        await passes(complete, timeout_s=60)
    finally:
        await consumer.stop()
    return records


def _look_ups(records: list, patient_id: str) -> list[dict]:
    entries = [json.loads(r.value)["data"] for r in records]
    return [e for e in entries if e["resources"] == ["Patient?identifier"]
            and e["chain"] == f"journal:{patient_id}"]


async def test_a_professional_finds_the_patient_by_national_id_as_a_logged_access(
        clinic: Clinic, kafka_bootstrap, caplog):
    caplog.set_level(logging.DEBUG)
    patient_id, number = await clinic.register()
    cw = clinic.case_worker()
    await clinic.until_allowed(cw, patient_id)

    async def registered_patient_found():   # the Patient resource is in the read model
        assert _found(await _get(clinic, cw, number)) == [patient_id]
    await passes(registered_patient_found)

    r = await _get(clinic, cw | {"X-Purpose-Of-Use": "COC"}, f"{number[:6]} {number[6:]}")
    [patient] = [e["resource"] for e in r.json()["entry"]]
    assert patient["identifier"][0] == {"system": FNR, "value": number}
    assert _found(await _post(clinic, cw, number)) == [patient_id]
    # the number and Patient/_id together: only when they are the same patient
    other, _ = await clinic.register()
    r = await clinic.journal.get("/fhir/Patient", headers=cw, params={
        "identifier": f"{FNR}|{number}", "_id": other})
    assert _found(r) == []

    # a number of another kind than its system, or a wrong check digit: a readable 422
    for r in (await _get(clinic, cw, number, IdentifierSystem.DNR),
              await _get(clinic, cw, number[:-1] + str((int(number[-1]) + 1) % 10)),
              await clinic.journal.post("/fhir/Patient/_search", headers=cw,
                                        data={"_count": "1"})):
        assert r.status_code == 422, r.text
        assert r.json()["resourceType"] == "OperationOutcome"
        assert number[6:] not in r.text
    r = await clinic.journal.post("/fhir/Patient/_search", headers=cw,
                                  json={"identifier": f"{FNR}|{number}"})
    assert r.status_code == 415 and r.json()["resourceType"] == "OperationOutcome"

    # each look-up is an access in the patient's log, with its purpose (TREAT when unstated)
    records = await _access_log(clinic, kafka_bootstrap,
                                lambda rs: len(_look_ups(rs, patient_id)) >= 3)
    logged = _look_ups(records, patient_id)
    assert {e["purpose_of_use"] for e in logged} == {"TREAT", "COC"}
    assert {(e["outcome"], e["actor_id"], e["category"]) for e in logged} == {
        ("permit", "5550001", "identity")}
    # the number is in no Kafka key, header or value, and in no log line
    for record in records:
        assert number.encode() not in (record.key or b"") + record.value
        assert all(number.encode() not in v for _, v in record.headers)
    assert not [x for x in caplog.records if number in x.getMessage()]


async def test_a_patient_the_caller_may_not_see_reads_like_a_number_nobody_has(clinic: Clinic):
    cw, nurse = clinic.case_worker(), clinic.nurse()   # the nurse cares for none of them
    known = [await clinic.register() for _ in range(3)]
    unknown = [clinic.synthetic() for _ in range(3)]
    for patient_id, number in known:
        async def visible_to_the_case_worker(pid=patient_id, n=number):
            assert _found(await _get(clinic, cw, n)) == [pid]
        await passes(visible_to_the_case_worker)

    answers = set()
    for number in [n for _, n in known] + unknown:
        for r in (await _get(clinic, nurse, number), await _post(clinic, nurse, number)):
            assert _found(r) == []
            shown = r.text.replace(f"{number}", "N").replace(f"%7C{number}", "%7CN")
            answers.add((r.status_code, r.headers["content-type"], shown))
    assert len(answers) == 2, answers    # one answer for GET, one for POST, whoever it is
