"""The medication service's FHIR R4 API on the real stack: search by patient with status, date,
code and paging; read, vread and _history with ETag; the List's ETag and the REST ETag; as_of;
the same 403 for an unknown id and a caller without need-to-know; a citizen reading their own
medication, and the reads in their access log; ordering a MedicationRequest with If-Match and
decision support. Every resource returned is checked with the fhir.resources R4B models."""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta

from libs.kernel.time import OSLO
from services.medication.fhir.elements import ATC, FEST_MERKEVARE
from services.medication.fhir.from_fhir import EXT_OVERRIDE_REASON
from tests.journal.conftest import LEGEVAKT
from tests.medication.conftest import APOCILLIN, IBUX, MAREVAN, PARACET, Ward, dose
from tests.support.waiting import passes

LIST = "/patients/{}/medication-list"
READER = "9144890"     # a second home-care nurse who reads only through FHIR


def valid(resource: dict) -> dict:
    """The resource parses as FHIR R4 (the R4B models)."""
    rtype = resource["resourceType"]
    module = importlib.import_module(f"fhir.resources.R4B.{rtype.lower()}")
    getattr(module, rtype).model_validate(resource)
    return resource


def entries(bundle: dict) -> list[dict]:
    assert bundle["resourceType"] == "Bundle"
    return [valid(e["resource"]) for e in bundle.get("entry", [])]


def order(patient_id: str, product: str, **dosage) -> dict:
    """An R4 MedicationRequest ordering a catalogue product, twice a day by default."""
    dosage = dosage or {"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}}
    return {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "subject": {"reference": f"Patient/{patient_id}"},
            "medicationCodeableConcept": {"coding": [{"system": FEST_MERKEVARE,
                                                      "code": product}]},
            "reasonCode": [{"text": "Smerter"}],
            "dosageInstruction": [{"route": {"text": "oral"}, "doseAndRate": [
                {"doseQuantity": {"value": 1, "unit": "tablett"}}]} | dosage]}


async def test_search_read_history_and_etag(ward: Ward):
    c, fhir = ward.c, ward.med
    patient_id, _ = await ward.patient()
    paracet = (await ward.prescribe(patient_id, PARACET, indication="Smerter")
               ).json()["entry_id"]
    marevan = (await ward.prescribe(patient_id, MAREVAN, dose=dose(1, times_per_day=1))
               ).json()["entry_id"]
    apocillin = (await ward.prescribe(patient_id, APOCILLIN)).json()["entry_id"]
    await ward.give(patient_id, paracet, {"outcome": "given"})
    await ward.entry_change(patient_id, apocillin, "pause", {"reason": "Utslett"})
    gp = c.gp() | {"X-Consistency-Token": ward.token}

    r = await fhir.get("/fhir/metadata")
    statement = valid(r.json())
    served = {x["type"]: x for x in statement["rest"][0]["resource"]}
    assert set(served) == {"MedicationStatement", "MedicationRequest",
                           "MedicationAdministration", "List"}
    assert EXT_OVERRIDE_REASON in str(served["MedicationRequest"])
    assert served["MedicationRequest"]["interaction"][0]["code"] == "create"
    assert {p["name"] for p in served["List"]["searchParam"]} == {"patient", "date", "code",
                                                                  "status"}

    # every type, for this patient, validates; paging two at a time with a next link
    for rtype, total in (("MedicationStatement", 3), ("MedicationRequest", 3),
                         ("MedicationAdministration", 1), ("List", 1)):
        r = await fhir.get(f"/fhir/{rtype}", headers=gp, params={"patient": patient_id})
        assert r.status_code == 200, (rtype, r.text)
        assert r.json()["total"] == total and len(entries(r.json())) == total, rtype
    r = await fhir.get("/fhir/MedicationStatement", headers=gp,
                       params={"patient": f"Patient/{patient_id}", "_count": 2})
    first = r.json()
    assert first["total"] == 3 and len(entries(first)) == 2
    nxt = next(link["url"] for link in first["link"] if link["relation"] == "next")
    r = await fhir.get(nxt.removeprefix("http://medication"), headers=gp)
    rest = r.json()
    assert len(entries(rest)) == 1 and not any(x["relation"] == "next" for x in rest["link"])
    assert {e["id"] for e in entries(first) + entries(rest)} == {paracet, marevan, apocillin}

    # status, date and code
    async def ids(rtype: str, **params) -> set[str]:
        r = await fhir.get(f"/fhir/{rtype}", headers=gp, params={"patient": patient_id} | params)
        assert r.status_code == 200, r.text
        return {x["id"] for x in entries(r.json())}

    assert await ids("MedicationStatement", status="on-hold") == {apocillin}
    assert await ids("MedicationStatement", status="active,on-hold") == {paracet, marevan,
                                                                         apocillin}
    today = datetime.now(OSLO).date()
    assert await ids("MedicationStatement", date=f"ge{today}") == {paracet, marevan, apocillin}
    assert await ids("MedicationStatement", date=f"ge{today + timedelta(days=1)}") == set()
    assert len(await ids("MedicationAdministration",
                         date=f"ge{today - timedelta(days=1)}")) == 1
    assert await ids("MedicationStatement", code="B01AA03") == {marevan}
    assert await ids("MedicationStatement", code=f"{ATC}|B01AA03") == {marevan}
    assert await ids("MedicationStatement", code=f"{FEST_MERKEVARE}|{PARACET}") == {paracet}
    assert len(await ids("MedicationRequest", code=f"{FEST_MERKEVARE}|{PARACET}")) == 1
    r = await fhir.get("/fhir/MedicationStatement", headers=gp,
                       params={"patient": patient_id, "date": "yesterday"})
    assert r.status_code == 422
    r = await fhir.get("/fhir/MedicationStatement", headers=gp)
    assert r.status_code == 422 and r.json()["resourceType"] == "OperationOutcome"
    assert "patient is required" in r.text
    r = await fhir.get("/fhir/Patient", headers=gp, params={"patient": patient_id})
    assert r.status_code == 404

    # read, _history and vread of the paused entry: two versions, each with its ETag
    r = await fhir.get(f"/fhir/MedicationStatement/{apocillin}", headers=gp)
    assert r.status_code == 200, r.text
    assert valid(r.json())["status"] == "on-hold"
    assert r.headers["ETag"] == 'W/"2"' and r.headers["Last-Modified"].endswith(" GMT")
    r = await fhir.get(f"/fhir/MedicationStatement/{apocillin}/_history", headers=gp)
    history = r.json()
    assert [valid(e["resource"])["status"] for e in history["entry"]] == ["on-hold", "active"]
    assert [e["response"]["etag"] for e in history["entry"]] == ['W/"2"', 'W/"1"']
    r = await fhir.get(f"/fhir/MedicationStatement/{apocillin}/_history/1", headers=gp)
    assert r.headers["ETag"] == 'W/"1"' and valid(r.json())["status"] == "active"
    r = await fhir.get(f"/fhir/MedicationStatement/{apocillin}/_history/9", headers=gp)
    assert r.status_code == 404

    # the List's ETag is the REST list's, also after an event that leaves its entries alone
    r = await fhir.get(f"/fhir/List/{patient_id}", headers=gp)
    pll = valid(r.json())
    assert r.headers["ETag"] == f'W/"{pll["meta"]["versionId"]}"'
    assert r.headers["ETag"] == await ward.version(patient_id)
    assert {e["item"]["reference"] for e in pll["entry"]} == {
        f"MedicationStatement/{x}" for x in (paracet, marevan, apocillin)}
    r = ward.seen(await fhir.post(f"/patients/{patient_id}/medication-list/fetches",
                                  headers=c.nurse(), json={"sources": ["rf"]}))
    assert r.status_code == 201, r.text
    r = await fhir.get(f"/fhir/List/{patient_id}", headers=gp | {
        "X-Consistency-Token": ward.token})
    assert r.headers["ETag"] == await ward.version(patient_id) != f'W/"{pll["meta"]["versionId"]}"'
    assert valid(r.json())["entry"] == pll["entry"]


async def test_as_of_need_to_know_citizens_and_the_access_log(ward: Ward):
    c, fhir = ward.c, ward.med
    patient_id, national_id = await ward.patient()
    paracet = (await ward.prescribe(patient_id, PARACET)).json()["entry_id"]
    marevan = (await ward.prescribe(patient_id, MAREVAN, dose=dose(1, times_per_day=1))
               ).json()["entry_id"]
    await ward.read(patient_id)
    before = datetime.now(OSLO)
    await ward.entry_change(patient_id, marevan, "discontinue", {"reason": "Blødning"})

    # read your writes: the FHIR read waits for the discontinuation it names
    reader = c.nurse(READER)
    r = await fhir.get(f"/fhir/MedicationStatement/{marevan}",
                       headers=reader | {"X-Consistency-Token": ward.token})
    assert r.status_code == 200, r.text
    assert valid(r.json())["status"] == "stopped"
    assert r.json()["statusReason"][0]["text"] == "Blødning"

    # as_of: the list before the discontinuation still has warfarin
    r = await fhir.get("/fhir/List", headers=reader, params={"patient": patient_id})
    [now_list] = entries(r.json())
    assert [e["item"]["reference"] for e in now_list["entry"]] == [
        f"MedicationStatement/{paracet}"]
    r = await fhir.get("/fhir/List", headers=reader,
                       params={"patient": patient_id, "as_of": before.isoformat()})
    [then] = entries(r.json())
    assert {e["item"]["reference"] for e in then["entry"]} == {
        f"MedicationStatement/{paracet}", f"MedicationStatement/{marevan}"}
    r = await fhir.get("/fhir/MedicationStatement", headers=reader, params={
        "patient": patient_id, "status": "active", "as_of": before.isoformat()})
    assert {x["id"] for x in entries(r.json())} == {paracet, marevan}
    r = await fhir.get(f"/fhir/MedicationStatement/{marevan}", headers=reader,
                       params={"as_of": before.isoformat()})
    assert r.json()["status"] == "active"

    # an unknown id and a caller without need-to-know: the same 403
    stranger, unknown = c.legevakt(), "0190f0a0-0000-7000-8000-00000000beef"
    answers = [await fhir.get(f"/fhir/MedicationStatement/{marevan}", headers=stranger),
               await fhir.get(f"/fhir/MedicationStatement/{unknown}", headers=stranger),
               await fhir.get(f"/fhir/MedicationStatement/{unknown}", headers=c.gp()),
               await fhir.get(f"/fhir/List/{unknown}/_history", headers=c.gp())]
    assert {a.status_code for a in answers} == {403}
    assert all(a.json() == answers[0].json() for a in answers)
    r = await fhir.get("/fhir/MedicationStatement", headers=stranger,
                       params={"patient": patient_id})
    assert r.status_code == 403 and r.json() == answers[0].json()

    # the patient reads their own medication, and sees who read it through FHIR
    me = c.citizen(national_id)
    r = await fhir.get("/fhir/MedicationStatement", headers=me, params={"patient": patient_id})
    assert r.status_code == 200, r.text
    assert {x["id"] for x in entries(r.json())} == {paracet, marevan}
    assert national_id not in r.text

    async def fhir_reads_logged() -> None:
        r = await c.consent.get(f"/patients/{patient_id}/access-log", headers=me)
        assert r.status_code == 200, r.text
        log = [e for e in r.json() if e["service"] == "medication"]
        mine = [(e["what"], e["permitted"]) for e in log if e["hpr"] == READER]
        assert mine == [("medication", True)] * 5, mine
        legevakt = {(e["what"], e["permitted"]) for e in log if e["unit"] == LEGEVAKT}
        assert legevakt == {("medication", False)}
        assert any(e["actor_kind"] == "citizen" and e["permitted"] for e in log)
    await passes(fhir_reads_logged, timeout_s=20)


async def test_ordering_through_fhir(ward: Ward):
    c, fhir = ward.c, ward.med
    patient_id, _ = await ward.patient()
    marevan = (await ward.prescribe(patient_id, MAREVAN, dose=dose(1, times_per_day=1))
               ).json()["entry_id"]
    version = await ward.version(patient_id)
    ibux = order(patient_id, IBUX)

    # If-Match is required, and must be current (as in REST)
    r = await fhir.post("/fhir/MedicationRequest", headers=c.gp(), json=ibux)
    assert r.status_code == 428 and "If-Match" in r.text
    r = await fhir.post("/fhir/MedicationRequest", headers=c.gp() | {"If-Match": 'W/"0"'},
                        json=ibux)
    assert r.status_code == 412, r.text
    assert f"If-Match: {version}" in r.json()["issue"][0]["diagnostics"]

    # "avoid" (warfarin + ibuprofen) without the override-reason extension: 422 with warnings
    gp = c.gp() | {"If-Match": version}
    r = await fhir.post("/fhir/MedicationRequest", headers=gp, json=ibux)
    assert r.status_code == 422, r.text
    issues = r.json()["issue"]
    assert EXT_OVERRIDE_REASON in issues[0]["diagnostics"]
    warning = [i for i in issues if i["severity"] == "warning"]
    assert warning[0]["details"]["text"] == "interaction:avoid"
    assert "Marevan" in warning[0]["diagnostics"]
    assert await ward.version(patient_id) == version

    # unmappable or invalid input: 422 naming the element, never repeating the value
    for body, element in (
            ({**ibux, "medicationCodeableConcept": {"coding": [{"system": ATC,
                                                                "code": "M01AE01"}]}},
             "medicationCodeableConcept"),
            ({**ibux, "dosageInstruction": [{"doseAndRate": [{"doseQuantity": {
                "value": "mye", "unit": "tablett"}}]}]}, "doseQuantity.value"),
            ({**ibux, "note": [{"text": "x"}]}, "MedicationRequest.note"),
            ({**ibux, "intent": "plan"}, "MedicationRequest.intent"),
            (order(patient_id, IBUX, timing={"repeat": {"frequency": 1, "period": 1,
                                                        "periodUnit": "wk"}}),
             "timing.repeat")):
        r = await fhir.post("/fhir/MedicationRequest", headers=gp, json=body)
        assert r.status_code == 422, (element, r.text)
        assert element in r.text and "mye" not in r.text, r.text

    # with the extension: ordered, the warning recorded with the reason
    reason = "Kortvarig, med PPI og INR-kontroll"
    r = await fhir.post("/fhir/MedicationRequest", headers=gp, json=ibux | {"extension": [
        {"url": EXT_OVERRIDE_REASON, "valueString": reason}]})
    assert r.status_code == 201, r.text
    created = valid(r.json())
    assert created["status"] == "active" and created["intent"] == "order"
    assert created["medicationCodeableConcept"]["coding"][0]["code"] == IBUX
    assert created["reasonCode"][0]["text"] == "Smerter"
    assert r.headers["Location"].endswith(f"/fhir/MedicationRequest/{created['id']}/_history/1")
    ward.seen(r)
    assert r.headers["ETag"] == await ward.version(patient_id) != version
    current = (await ward.read(patient_id)).json()["entries"]
    new = next(e for e in current if e["drug"]["product_id"] == IBUX)
    assert new["indication"] == "Smerter"
    history = (await fhir.get(LIST.format(patient_id) + "/history",
                              headers=c.gp() | {"X-Consistency-Token": ward.token})
               ).json()["changes"]
    warned = next(h for h in history if h["action"] == "warnings")
    assert warned["reason"] == reason and "Marevan" in warned["detail"]
    r = await fhir.get(f"/fhir/MedicationRequest/{created['id']}",
                       headers=c.gp() | {"X-Consistency-Token": ward.token})
    assert r.status_code == 200, r.text
    assert r.json() == created and r.headers["ETag"] == 'W/"1"'

    # as needed, with a treatment period; a nurse does not order; a stranger gets the 403
    start = datetime.now(OSLO).date() + timedelta(days=1)
    as_needed = order(patient_id, PARACET, asNeededBoolean=True, maxDosePerPeriod={
        "numerator": {"value": 4, "unit": "tablett"}, "denominator": {"value": 1, "unit": "d"}},
        timing={"repeat": {"boundsPeriod": {"start": start.isoformat(),
                                            "end": (start + timedelta(days=6)).isoformat()}}})
    r = await fhir.post("/fhir/MedicationRequest", json=as_needed,
                        headers=c.nurse() | {"If-Match": await ward.version(patient_id)})
    assert r.status_code == 403
    r = await fhir.post("/fhir/MedicationRequest", json=as_needed,
                        headers=c.legevakt() | {"If-Match": await ward.version(patient_id)})
    assert r.status_code == 403 and "need-to-know" in r.text
    r = await fhir.post("/fhir/MedicationRequest", json=as_needed,
                        headers=c.gp() | {"If-Match": await ward.version(patient_id)})
    assert r.status_code == 201, r.text
    ward.seen(r)
    history = (await ward.med.get(LIST.format(patient_id) + "/history",
                                  headers=c.gp() | {"X-Consistency-Token": ward.token})).json()
    assert sum(h["action"] == "prescribed" for h in history["changes"]) == 3
    r = await fhir.get("/fhir/MedicationStatement", headers=c.gp(),
                       params={"patient": patient_id, "code": PARACET})
    [paracet] = entries(r.json())
    assert paracet["effectivePeriod"] == {"start": start.isoformat(),
                                          "end": (start + timedelta(days=6)).isoformat()}
    assert paracet["dosage"][0]["asNeededBoolean"] is True
    assert marevan in {x["id"] for x in entries((await fhir.get(
        "/fhir/MedicationStatement", headers=c.gp(), params={"patient": patient_id})).json())}
