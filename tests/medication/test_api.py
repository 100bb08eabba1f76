"""The medication API on the real stack: who may do what, If-Match (428 / 412, and two changes
against one version: one wins), refused transitions (409), decision support in the answer and
in the history, administration by nurses and dispensers, reconciliation and review, the
catalogue, and that bad input is a clear 4xx that changes nothing."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

from libs.kernel.time import OSLO
from tests.medication.conftest import (
    ALBYL, APOCILLIN, IBUX, MAREVAN, PARACET, Ward, dose, soon,
)
from tests.journal.conftest import GP_OFFICE
from tests.support.routes import patient_routes, unguarded_routes
from tests.support.waiting import passes

LIST = "/patients/{}/medication-list"


async def test_changes_name_the_version_and_two_at_once_do_not_both_win(ward: Ward):
    patient_id, _ = await ward.patient()
    url = LIST.format(patient_id) + "/prescriptions"
    order = {"product_id": PARACET, "dose": dose()}
    r = await ward.med.post(url, headers=ward.c.gp(), json=order)
    assert r.status_code == 428 and "If-Match" in r.text
    r = await ward.med.post(url, headers=ward.c.gp() | {"If-Match": "*"}, json=order)
    assert r.status_code == 428
    r = await ward.med.post(url, headers=ward.c.gp() | {"If-Match": "latest"}, json=order)
    assert r.status_code == 422

    # two prescribers change the same list version at the same moment: one is refused
    first, second = await asyncio.gather(*(
        ward.med.post(url, headers=ward.c.gp() | {"If-Match": 'W/"0"'},
                      json={"product_id": p, "dose": dose()}) for p in (PARACET, MAREVAN)))
    assert sorted((first.status_code, second.status_code)) == [201, 412], (first.text,
                                                                           second.text)
    lost = first if first.status_code == 412 else second
    assert lost.json()["resourceType"] == "OperationOutcome"
    assert 'If-Match: W/"1"' in lost.json()["issue"][0]["diagnostics"]
    ward.seen(first if first.status_code == 201 else second)
    assert len((await ward.read(patient_id)).json()["entries"]) == 1

    # the loser reads again and goes ahead against the new version
    version = await ward.version(patient_id)
    assert version == 'W/"1"'
    await ward.prescribe(patient_id, ALBYL, if_match=version)


async def test_only_prescribers_change_the_list_nurses_give_and_everyone_reads(ward: Ward):
    c = ward.c
    patient_id, national_id = await ward.patient()
    r = await ward.prescribe(patient_id, PARACET, headers=c.nurse(), expect=403)
    assert "prescriber" in r.json()["issue"][0]["diagnostics"]
    entry = (await ward.prescribe(patient_id, PARACET,
                                  dose=dose(1, as_needed=True, max_per_day=4))).json()["entry_id"]
    await ward.entry_change(patient_id, entry, "pause", {"reason": "x"}, headers=c.nurse(),
                            expect=403)

    # a nurse gives as needed, up to the maximum per day; the next one is a clear 409
    for _ in range(4):
        await ward.give(patient_id, entry, {"outcome": "given"})
    r = await ward.give(patient_id, entry, {"outcome": "given"}, expect=409)
    assert "maximum of 4 tablett per day" in r.text

    # the patient reads their own list but changes nothing
    me = c.citizen(national_id)
    r = await ward.med.get(LIST.format(patient_id), headers=me)
    assert r.status_code == 200 and r.json()["entries"][0]["entry_id"] == entry
    await ward.prescribe(patient_id, IBUX, headers=me, expect=403)

    # someone without a need-to-know gets the same answer as for a patient who does not exist
    stranger = c.legevakt()   # no legevakt contact with this patient
    unknown = "0190f0a0-0000-7000-8000-00000000beef"
    a = await ward.med.get(LIST.format(patient_id), headers=stranger)
    b = await ward.med.get(LIST.format(unknown), headers=stranger)
    assert a.status_code == b.status_code == 403 and a.json() == b.json()


async def test_refused_transitions_are_409_and_change_nothing(ward: Ward):
    patient_id, _ = await ward.patient()
    planned = soon()
    entry = (await ward.prescribe(patient_id, PARACET,
                                  dose=dose(2, at=planned))).json()["entry_id"]
    await ward.entry_change(patient_id, entry, "pause", {}, expect=422)   # no reason
    await ward.entry_change(patient_id, entry, "pause", {"reason": "Operasjon i morgen"})
    r = await ward.give(patient_id, entry, {"outcome": "given",
                                            "scheduled_for": planned.isoformat()}, expect=409)
    assert "paused" in r.json()["issue"][0]["diagnostics"]
    await ward.entry_change(patient_id, entry, "pause", {"reason": "igjen"}, expect=409)
    await ward.entry_change(patient_id, entry, "resume", {})
    await ward.give(patient_id, entry, {"outcome": "given", "scheduled_for": planned.isoformat()})
    r = await ward.give(patient_id, entry, {"outcome": "given",
                                            "scheduled_for": planned.isoformat()}, expect=409)
    assert "already recorded as given" in r.text
    r = await ward.give(patient_id, entry, {"outcome": "given",
                                            "scheduled_for": (planned + timedelta(minutes=7)
                                                              ).isoformat()}, expect=422)
    assert "not a planned time" in r.text
    await ward.entry_change(patient_id, entry, "discontinue", {"reason": "Ikke lenger smerter"})
    for what, body in (("resume", {}), ("renew", {}), ("pause", {"reason": "x"}),
                       ("discontinue", {"reason": "x"})):
        await ward.entry_change(patient_id, entry, what, body, expect=409)
    await ward.give(patient_id, entry, {"outcome": "given"}, expect=409)
    history = (await ward.med.get(LIST.format(patient_id) + "/history", headers=ward.c.gp(),
                                  params={"entry_id": entry})).json()["changes"]
    assert [h["action"] for h in history] == ["recalled", "discontinued", "resumed", "paused",
                                              "prescribed"]


async def test_decision_support_on_orders_and_changes(ward: Ward):
    patient_id, _ = await ward.patient()
    gp = ward.c.gp()
    marevan = (await ward.prescribe(patient_id, MAREVAN,
                                    dose=dose(1, times_per_day=1))).json()["entry_id"]

    # "avoid" (warfarin + ibuprofen) without a reason: 422 listing the warning, nothing ordered
    version = await ward.version(patient_id)
    r = await ward.prescribe(patient_id, IBUX, if_match=version, expect=422)
    warning = [i for i in r.json()["issue"] if i["severity"] == "warning"]
    assert warning[0]["details"]["text"] == "interaction:avoid"
    assert "Marevan" in warning[0]["diagnostics"]
    assert await ward.version(patient_id) == version

    # the same as a dry run, then with a reason: ordered, warnings answered and recorded
    r = await ward.med.post(LIST.format(patient_id) + "/$check", headers=gp,
                            json={"product_id": IBUX, "dose": dose()})
    assert r.json()["needs_override_reason"] is True
    r = await ward.prescribe(patient_id, IBUX, if_match=version,
                             override_reason="Kortvarig, med PPI og INR-kontroll")
    assert [(w["kind"], w["level"], w["other_entry_id"]) for w in r.json()["warnings"]] == [
        ("interaction", "avoid", marevan)]

    # a dose change above the maximum daily dose is checked too (3 x 4 x 500 mg > 4000 mg)
    paracet = (await ward.prescribe(patient_id, PARACET, dose=dose(2, times_per_day=3))
               ).json()["entry_id"]
    r = await ward.entry_change(patient_id, paracet, "dose",
                                {"dose": dose(4, times_per_day=3)}, expect=422)
    assert "6000 mg" in r.text
    r = await ward.entry_change(patient_id, paracet, "dose",
                                {"dose": dose(4, times_per_day=3), "reason": "Smertetopp",
                                 "override_reason": "Kortvarig, sykehusets råd"})
    assert {w["kind"] for w in r.json()["warnings"]} == {"max_dose"}

    # "precautions" only (a duplicate substance) needs no reason
    r = await ward.prescribe(patient_id, PARACET, dose=dose(1, as_needed=True, max_per_day=2))
    assert {(w["kind"], w["level"]) for w in r.json()["warnings"]} >= {
        ("duplicate", "precautions")}
    detail = (await ward.med.get(LIST.format(patient_id) + f"/entries/{paracet}",
                                 headers=gp)).json()
    assert [p["recalled"] for p in detail["prescriptions"]] == ["renewal_with_change", None]
    assert detail["dose"]["amount"] == 4


async def test_renewal_other_sources_dispensing_reconciliation_and_review(ward: Ward):
    c = ward.c
    patient_id, _ = await ward.patient()
    entry = (await ward.prescribe(patient_id, MAREVAN, dose=dose(1, times_per_day=1))
             ).json()["entry_id"]
    await ward.entry_change(patient_id, entry, "renew", {})
    r = await ward.med.post(LIST.format(patient_id) + f"/entries/{entry}/dispensings",
                            headers=c.nurse(), json={"pharmacy": "974600978", "quantity": 100})
    assert r.status_code == 201, r.text
    ward.seen(r)
    r = await ward.med.post(LIST.format(patient_id) + "/other-sources",
                            headers=c.gp() | {"If-Match": await ward.version(patient_id)},
                            json={"source": "over_the_counter", "name": "Tran",
                                  "dose": dose(5, "ml", times_per_day=1)})
    assert r.status_code == 201, r.text
    ward.seen(r)

    current = (await ward.read(patient_id)).json()["entries"]
    assert {e["source"] for e in current} == {"prescribed", "over_the_counter"}
    detail = (await ward.med.get(LIST.format(patient_id) + f"/entries/{entry}",
                                 headers=c.nurse())).json()
    first, renewed = detail["prescriptions"]
    assert renewed["previous"] == first["prescription_id"] and first["recalled"] == "renewal"
    assert detail["dispensings"][0]["prescription_id"] == renewed["prescription_id"]
    assert detail["last_dispensed_at"] is not None

    # the nurse reconciles with the patient; the GP reviews that version
    r = await ward.med.post(LIST.format(patient_id) + "/reconciliations", headers=c.nurse(),
                            json={"lines": [{"entry_id": entry, "source": "patient"},
                                            {"name": "Omega-3", "source": "next_of_kin",
                                             "dose_text": "1 kapsel daglig"}]})
    assert r.status_code == 201, r.text
    r = await ward.med.post(LIST.format(patient_id) + "/reviews", headers=c.nurse(),
                            json={"reconciliation_version": 1, "summary": "ok"})
    assert r.status_code == 403
    r = await ward.med.post(LIST.format(patient_id) + "/reviews", headers=c.gp(),
                            json={"reconciliation_version": 2, "summary": "ok"})
    assert r.status_code == 404
    r = await ward.med.post(LIST.format(patient_id) + "/reviews", headers=c.gp(),
                            json={"reconciliation_version": 1,
                                  "summary": "Tran og Omega-3 er dobbelt; seponer én."})
    assert r.status_code == 201, r.text
    ward.seen(r)
    r = await ward.med.get(LIST.format(patient_id) + "/reconciliations", headers=c.gp(),
                           params={"consistency_token": ward.token})
    body = r.json()
    assert body["reconciliations"][0]["lines"][1]["source"] == "next_of_kin"
    assert body["reviews"][0]["reconciliation_version"] == 1


async def test_a_medicine_dispenser_reports_once(ward: Ward):
    c = ward.c
    patient_id, _ = await ward.patient()
    planned = soon()
    entry = (await ward.prescribe(patient_id, PARACET, dose=dose(1, at=planned))
             ).json()["entry_id"]
    dispenser = c.bearer(c.issuer.mint_device("dispenser-17"))
    report = {"outcome": "given", "scheduled_for": planned.isoformat(),
              "device_event_id": "evt-0001"}
    r = await ward.give(patient_id, entry, report, headers=dispenser, expect=403)
    r = await c.consent.post(f"/patients/{patient_id}/devices", headers=c.nurse(),
                             json={"client_id": "dispenser-17",
                                   "technology": "medisindispenser"})
    assert r.status_code == 201, r.text

    async def reported() -> None:
        await ward.give(patient_id, entry, report, headers=dispenser)
    await passes(reported, timeout_s=20)
    again = await ward.give(patient_id, entry, report, headers=dispenser, expect=200)
    assert again.json() == {"recorded": False}
    chart = (await ward.med.get(LIST.format(patient_id) + "/chart", headers=c.nurse(),
                                params={"day": planned.date().isoformat(),
                                        "consistency_token": ward.token})).json()
    line = next(x for x in chart["lines"] if x["entry_id"] == entry)
    assert line["by"] == {"kind": "device", "id": "dispenser-17", "unit": None}
    # a dispenser reads nothing and changes nothing on the list
    await ward.prescribe(patient_id, IBUX, headers=dispenser, expect=403)


async def test_bad_input_is_a_clear_4xx_and_changes_nothing(ward: Ward):
    patient_id, _ = await ward.patient()
    gp = ward.c.gp() | {"If-Match": 'W/"0"'}
    url = LIST.format(patient_id) + "/prescriptions"
    for body, expected in (
            ({"product_id": "ID_nope", "dose": dose()}, "not in the drug catalogue"),
            ({"product_id": PARACET, "dose": dose(0)}, "more than zero"),
            ({"product_id": PARACET, "dose": dose(1, times_per_day=2, as_needed=True)},
             "exactly one"),
            ({"product_id": PARACET, "dose": dose(), "start_on": "2001-01-01"}, "past"),
            ({"product_id": PARACET}, "dose"),
            ({"product_id": PARACET, "dose": {"amount": "mye", "unit": "mg"}}, "amount")):
        r = await ward.med.post(url, headers=gp, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/fhir+json")
        assert expected in r.text, r.text
    r = await ward.med.post(LIST.format(patient_id) + "/entries/not-a-uuid/pause", headers=gp,
                            json={"reason": "x"})
    assert r.status_code == 422
    r = await ward.med.post(LIST.format(patient_id) + f"/entries/{patient_id}/pause",
                            headers=gp, json={"reason": "x"})
    assert r.status_code == 404
    r = await ward.med.get(LIST.format(patient_id), headers=ward.c.gp(),
                           params={"as_of": "yesterday"})
    assert r.status_code == 422
    assert (await ward.read(patient_id)).headers["ETag"] == 'W/"0"'


async def test_the_list_as_of_an_instant(ward: Ward):
    patient_id, _ = await ward.patient()
    before = datetime.now(OSLO)
    entry = (await ward.prescribe(patient_id, PARACET)).json()["entry_id"]
    r = await ward.read(patient_id, as_of=before.isoformat())
    assert r.json()["entries"] == [] and r.headers["ETag"] == 'W/"0"'
    assert r.json()["as_of"] == before.isoformat()
    r = await ward.read(patient_id, as_of=datetime.now(OSLO).isoformat())
    assert [e["entry_id"] for e in r.json()["entries"]] == [entry]


async def test_the_catalogue(ward: Ward):
    c = ward.c
    r = await ward.med.get("/catalogue", headers=c.nurse())
    assert r.json()["sample"] is True and r.json()["products"] == 50
    r = await ward.med.get("/catalogue/products", headers=c.gp(), params={"q": "warfarin"})
    assert [p["name"] for p in r.json()["products"]] == ["Marevan tab 2,5 mg"]
    r = await ward.med.get("/catalogue/products", headers=c.gp(), params={"atc": "J01"})
    assert r.json()["total"] == 5
    r = await ward.med.get(f"/catalogue/products/{PARACET}", headers=c.gp())
    assert r.json()["max_daily_dose"] == 4000 and r.json()["max_daily_dose_unit"] == "mg"
    assert (await ward.med.get("/catalogue/products/ID_x", headers=c.gp())).status_code == 404
    r = await ward.med.get("/catalogue", headers=c.citizen(c.synthetic()))
    assert r.status_code in (401, 403)


def test_every_patient_route_is_guarded(ward: Ward):
    assert len(patient_routes(ward.c.medication_app)) >= 15   # the walk sees the included routers
    assert unguarded_routes(ward.c.medication_app, ("access.require(", "_allowed(")) == []


async def test_where_required_a_change_needs_a_recent_fetch_from_the_prescription_intermediary(
        ward: Ward):
    patient_id, _ = await ward.patient()
    # as in production (EHR_MEDICATION_RF_FETCH_REQUIRED): fetched less than 4 hours ago
    ward.c.medication_app.state.fresh_within = timedelta(hours=4)
    r = await ward.prescribe(patient_id, PARACET, expect=409)
    assert "prescription intermediary (RF)" in r.json()["issue"][0]["diagnostics"]
    r = await ward.med.post(LIST.format(patient_id) + "/fetches", headers=ward.c.nurse(),
                            json={"sources": ["rf", "kj"],
                                  "fetched_at": (datetime.now(OSLO) - timedelta(minutes=5)
                                                 ).isoformat()})
    assert r.status_code == 201, r.text
    ward.seen(r)
    await ward.prescribe(patient_id, PARACET)
    current = (await ward.read(patient_id)).json()
    assert current["fetched_from_rf"]["sources"] == ["rf", "kj"]
    assert len(current["entries"]) == 1


async def test_a_teenager_hides_an_entry_from_their_parents(ward: Ward):
    """A 12–16-year-old's parent sees the medication list (a category parents may see) but not
    an entry the youth has hidden from guardians; the youth and the GP see it."""
    c = ward.c
    parent_id, parent_pid = await c.register(born=date(1985, 5, 15))
    today = datetime.now(OSLO).date()
    teen_id, teen_pid = await c.register(born=today.replace(year=today.year - 14),
                                         name={"given": "Emil", "family": "Hansen"})
    cw = c.case_worker()
    await c.until_allowed(cw, teen_id)
    r = await c.consent.post(f"/patients/{teen_id}/guardians", headers=cw,
                             json={"guardian": parent_id, "shares_address": True})
    assert r.status_code == 201, r.text
    r = await c.assign(teen_id, GP_OFFICE, purpose="fastlege")
    assert r.status_code == 201, r.text
    await ward.until_allowed(c.gp(), teen_id)
    open_entry = (await ward.prescribe(teen_id, PARACET)).json()["entry_id"]
    private = (await ward.prescribe(teen_id, APOCILLIN, dose=dose(1, times_per_day=3))
               ).json()["entry_id"]
    teen = c.citizen(teen_pid)
    r = await c.consent.post(f"/patients/{teen_id}/restrictions", headers=teen,
                             json={"kind": "hidden_from_guardians", "target": private})
    assert r.status_code == 201, r.text
    parent = c.citizen(parent_pid) | {"X-Acting-For": teen_id,
                                      "X-Consistency-Token": r.headers["X-Consistency-Token"]}

    async def parent_sees_one() -> dict:
        # until the list holds the private entry too: before, one entry and none withheld
        # would pass for the wrong reason
        r = await ward.med.get(LIST.format(teen_id), headers=parent)
        assert r.status_code == 200, r.text
        assert [e["entry_id"] for e in r.json()["entries"]] == [open_entry], r.json()
        assert r.json().get("withheld") == 1, r.json()
        return r.json()
    seen = await passes(parent_sees_one, timeout_s=20)
    assert seen["withheld"] == 1 and "withheld" in seen["withheld_message"]
    history = (await ward.med.get(LIST.format(teen_id) + "/history", headers=parent)).json()
    assert {h["entry_id"] for h in history["changes"]} == {open_entry}
    r = await ward.med.get(LIST.format(teen_id) + f"/entries/{private}", headers=parent)
    assert r.status_code == 404
    r = await ward.med.get(LIST.format(teen_id), headers=teen)
    assert {e["entry_id"] for e in r.json()["entries"]} == {open_entry, private}
    assert len((await ward.read(teen_id)).json()["entries"]) == 2   # the GP
