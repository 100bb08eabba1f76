"""The issue's story, end to end on real Kafka and PostgreSQL: a GP prescribes, home care records
doses, the legevakt reads the current list at night, the GP discontinues with a reason, and the
list as of before the change still shows it; a CAVE registered in the journal makes the next
order of that substance need a stated reason. The patient's access log shows who read."""

from __future__ import annotations

from datetime import datetime, timedelta

from libs.kernel.time import OSLO
from tests.journal.conftest import LEGEVAKT, LEGEVAKT_ORG
from tests.medication.conftest import APOCILLIN, MAREVAN, PARACET, Ward, dose, soon
from tests.support.waiting import passes


async def test_prescribe_give_read_at_night_discontinue_and_look_back(ward: Ward):
    c = ward.c
    patient_id, national_id = await ward.patient()
    gp, nurse, legevakt = c.gp(), c.nurse(), c.legevakt()

    # the GP prescribes: paracetamol at a time a little ahead, and warfarin twice a day
    assert (await ward.read(patient_id)).headers["ETag"] == 'W/"0"'
    planned = soon()
    r = await ward.prescribe(patient_id, PARACET, if_match='W/"0"',
                             dose=dose(2, "tablett", at=planned), indication="Smerter i hofte")
    paracet = r.json()["entry_id"]
    assert r.headers["ETag"] == 'W/"1"' and r.json()["warnings"] == []
    r = await ward.prescribe(patient_id, MAREVAN, if_match='W/"1"',
                             dose=dose(1, "tablett", times_per_day=1), indication="Atrieflimmer")
    marevan = r.json()["entry_id"]

    # home care gives the planned paracetamol dose (a little early); the chart shows it
    r = await ward.give(patient_id, paracet, {"outcome": "given",
                                              "scheduled_for": planned.isoformat()})
    given_at = datetime.fromisoformat(
        (await ward.med.get(f"/patients/{patient_id}/medication-list/entries/{paracet}",
                            headers=nurse | {"X-Consistency-Token": ward.token})
         ).json()["last_given_at"])
    r = await ward.med.get(f"/patients/{patient_id}/medication-list/chart", headers=nurse,
                           params={"day": planned.date().isoformat()})
    line = next(x for x in r.json()["lines"] if x["entry_id"] == paracet)
    assert line["outcome"] == "given" and line["amount"] == 2
    assert line["by"]["id"] == "9144889"

    # the legevakt, at night, has no access until its leader assigns it the legevakt contact
    r = await ward.med.get(f"/patients/{patient_id}/medication-list", headers=legevakt)
    assert r.status_code == 403
    r = await c.assign(patient_id, LEGEVAKT, LEGEVAKT_ORG, purpose="legevakt",
                       basis="legevakt_contact")
    assert r.status_code == 201, r.text
    await ward.until_allowed(legevakt, patient_id)
    night = (await ward.read(patient_id, legevakt)).json()
    by_id = {e["entry_id"]: e for e in night["entries"]}
    assert set(by_id) == {paracet, marevan}
    assert by_id[paracet]["dose_text"] == f"2 tablett kl. {planned:%H:%M}"
    assert datetime.fromisoformat(by_id[paracet]["last_given_at"]) == given_at
    assert by_id[marevan]["drug"]["atc"] == "B01AA03"
    # the legevakt doctor reads but does not change the list of a patient they do not treat
    # regularly: they are a prescriber, so they could; home care cannot
    r = await ward.med.post(f"/patients/{patient_id}/medication-list/prescriptions",
                            headers=nurse | {"If-Match": 'W/"3"'},
                            json={"product_id": PARACET, "dose": dose()})
    assert r.status_code == 403 and "prescriber" in r.text

    # the GP discontinues warfarin: a reason is required, the version must be current
    before_change = datetime.now(OSLO)
    version = (await ward.read(patient_id)).headers["ETag"]
    await ward.entry_change(patient_id, marevan, "discontinue", {}, if_match=version,
                            expect=422)
    await ward.entry_change(patient_id, marevan, "discontinue", {"reason": "Blødning"},
                            if_match='W/"1"', expect=412)
    r = await ward.entry_change(patient_id, marevan, "discontinue",
                                {"reason": "Blødning fra tannkjøtt; INR 4,5"}, if_match=version)
    now_list = (await ward.read(patient_id, legevakt)).json()
    assert [e["entry_id"] for e in now_list["entries"]] == [paracet]

    # the list as of before the change still shows warfarin, and what was given then
    then = (await ward.read(patient_id, legevakt, as_of=before_change.isoformat())).json()
    assert {e["entry_id"] for e in then["entries"]} == {paracet, marevan}
    history = (await ward.med.get(f"/patients/{patient_id}/medication-list/history",
                                  headers=gp)).json()["changes"]
    stop = next(h for h in history if h["action"] == "discontinued")
    assert stop["reason"] == "Blødning fra tannkjøtt; INR 4,5" and stop["by"]["id"] == "7654321"
    assert any(h["action"] == "recalled" and h["entry_id"] == marevan for h in history)
    # a discontinued medication is not resumed: a clear 409
    await ward.entry_change(patient_id, marevan, "resume", {}, expect=409)

    # the patient sees in their access log that the legevakt read the medication list
    async def legevakt_read_logged() -> None:
        r = await c.consent.get(f"/patients/{patient_id}/access-log",
                                headers=c.citizen(national_id))
        assert r.status_code == 200, r.text
        mine = [e for e in r.json() if e["service"] == "medication" and e["unit"] == LEGEVAKT]
        assert {(e["what"], e["permitted"]) for e in mine} == {
            ("medication", False), ("medication", True)}, mine
        assert all(e["hpr"] == "1112223" for e in mine)
    await passes(legevakt_read_logged, timeout_s=20)


async def test_a_cave_in_the_journal_warns_on_the_next_order(ward: Ward):
    c = ward.c
    patient_id, _ = await ward.patient()
    r = await c.journal.post(f"/patients/{patient_id}/critical-info", headers=c.gp(),
                             json={"category": "drug_reaction",
                                   "substance": "fenoksymetylpenicillin",
                                   "reaction": "Urtikaria", "severity": "moderate"})
    assert r.status_code == 201, r.text
    journal_token, critical_id = r.headers["X-Consistency-Token"], r.json()["critical_id"]

    # the journal's token makes the order wait until the CAVE has reached this service
    order = {"product_id": APOCILLIN, "dose": dose(1, "tablett", times_per_day=4),
             "end_on": (datetime.now(OSLO).date() + timedelta(days=10)).isoformat()}
    r = await ward.med.post(f"/patients/{patient_id}/medication-list/prescriptions",
                            headers=c.gp() | {"If-Match": 'W/"0"',
                                              "X-Consistency-Token": journal_token},
                            json=order)
    assert r.status_code == 422, r.text
    issues = r.json()["issue"]
    assert "override_reason" in issues[0]["diagnostics"]
    cave = [i for i in issues if i["severity"] == "warning"]
    assert cave and "fenoksymetylpenicillin" in cave[0]["diagnostics"]
    assert (await ward.read(patient_id)).json()["entries"] == []   # nothing was ordered

    r = await ward.med.post(f"/patients/{patient_id}/medication-list/prescriptions",
                            headers=c.gp() | {"If-Match": 'W/"0"'},
                            json=order | {"override_reason": "Tålte V-pen i 2019; urtikaria "
                                                             "var virusutslett."})
    assert r.status_code == 201, r.text
    assert [w["kind"] for w in r.json()["warnings"]] == ["cave"]
    ward.seen(r)
    history = (await ward.med.get(f"/patients/{patient_id}/medication-list/history",
                                  headers=c.gp() | {"X-Consistency-Token": ward.token})
               ).json()["changes"]
    warned = next(h for h in history if h["action"] == "warnings")
    assert warned["reason"].startswith("Tålte V-pen")
    assert "fenoksymetylpenicillin" in warned["detail"]

    # refuted in the journal: the next order of the substance has no CAVE warning
    r = await c.journal.post(f"/patients/{patient_id}/critical-info/{critical_id}/status",
                             headers=c.gp(),
                             json={"to": "refuted", "reason": "Provokasjonstest negativ"})
    assert r.status_code == 200, r.text
    r = await ward.med.post(f"/patients/{patient_id}/medication-list/$check",
                            headers=c.gp() | {"X-Consistency-Token":
                                              r.headers["X-Consistency-Token"]},
                            json={"product_id": APOCILLIN, "dose": dose(1, "tablett",
                                                                        times_per_day=4)})
    assert r.status_code == 200, r.text
    kinds = {w["kind"] for w in r.json()["warnings"]}
    assert "cave" not in kinds and "duplicate" in kinds
