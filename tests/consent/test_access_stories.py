"""The access model through the consent service's API, on real PostgreSQL and Kafka.

Each test is a story a user would recognise: a nurse without a care relation is refused, the
patient blocks someone, legevakt breaks the glass at night and the unit leader reviews it, a
school gets only what the parents consented to, a parent's rights end on the 16th birthday.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from libs.kernel.time import local_day

from libs.events.consistency import ConsistencyToken

from tests.consent.conftest import LEGEVAKT, NAV_ORG, SCHOOL_ORG, Consent
from tests.support.waiting import passes


def today() -> date:
    """Today in Oslo, as the policy counts ages: asked when a test runs, not when the module
    was collected (a session begun before Oslo's midnight ran its tests after it)."""
    return local_day(datetime.now(UTC))


def years_ago(years: int, days: int = 0) -> date:
    d = today() - timedelta(days=days)
    return d.replace(year=d.year - years)


async def test_need_to_know_comes_from_a_care_relation(consent: Consent):
    c = consent.client
    patient, _ = await consent.register(years_ago(80))
    r = await c.get(f"/patients/{patient}/consents", headers=consent.nurse())
    assert r.status_code == 403
    assert "tjenstlig behov" in r.json()["issue"][0]["diagnostics"]

    token = await consent.relate(patient)
    r = await c.get(f"/patients/{patient}/consents",
                    headers=consent.nurse() | {"X-Consistency-Token": token})
    assert r.status_code == 200, r.text
    assert r.json() == []
    # a colleague in another unit still has no need-to-know
    r = await c.get(f"/patients/{patient}/consents", headers=consent.doctor())
    assert r.status_code == 403


async def test_unknown_and_forbidden_patients_look_the_same(consent: Consent):
    c = consent.client
    patient, _ = await consent.register(years_ago(50))
    unknown = "0190f0a0-0000-7000-8000-00000000abcd"
    a = await c.get(f"/patients/{patient}/consents", headers=consent.doctor())
    b = await c.get(f"/patients/{unknown}/consents", headers=consent.doctor())
    assert (a.status_code, a.json()) == (b.status_code, b.json()) == (403, a.json())


async def test_a_block_beats_the_care_relation_and_emergency_access(consent: Consent):
    c = consent.client
    patient, pid = await consent.register(years_ago(40))
    await consent.relate(patient)
    me = consent.citizen(pid)
    r = await c.post(f"/patients/{patient}/blocks",
                     json={"target_kind": "practitioner", "target": "9144889"}, headers=me)
    assert r.status_code == 201, r.text
    seen = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
    r = await c.get(f"/patients/{patient}/consents", headers=consent.nurse() | seen)
    assert r.status_code == 403
    assert "Withheld by the patient" in r.json()["issue"][0]["diagnostics"]

    r = await c.post(f"/patients/{patient}/emergency-access", headers=consent.nurse(),
                     json={"basis": "necessity", "reason": "collapsed at home"})
    assert r.status_code == 201
    seen = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
    r = await c.get(f"/patients/{patient}/consents", headers=consent.nurse() | seen)
    assert r.status_code == 403, "a block wins over emergency access"

    # another nurse in the same unit is not blocked
    r = await c.get(f"/patients/{patient}/consents", headers=consent.nurse(hpr="9144890"))
    assert r.status_code == 200


async def test_break_the_glass_is_time_limited_logged_and_reviewed(consent: Consent):
    c = consent.client
    patient, pid = await consent.register(years_ago(67))
    r = await c.get(f"/patients/{patient}/consents", headers=consent.doctor())
    assert r.status_code == 403
    r = await c.post(f"/patients/{patient}/emergency-access", headers=consent.doctor(),
                     json={"basis": "vague", "reason": "x"})
    assert r.status_code == 422
    r = await c.post(f"/patients/{patient}/emergency-access", headers=consent.doctor(),
                     json={"basis": "necessity", "reason": "unconscious, no relatives reached",
                           "hours": 4})
    assert r.status_code == 201, r.text
    seen = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
    r = await c.get(f"/patients/{patient}/consents", headers=consent.doctor() | seen)
    assert r.status_code == 200

    # the unit leader sees the emergency access and the refused attempt before it
    async def items():
        r = await c.get("/reviews", headers=consent.leader())
        assert r.status_code == 200, r.text
        kinds = {i["kind"] for i in r.json() if str(i["patient_id"]) == patient}
        assert {"emergency_access", "access_without_care_relation"} <= kinds
        return r.json()

    listed = await passes(items)
    item = next(i for i in listed if i["kind"] == "emergency_access")
    assert item["unit"] == LEGEVAKT
    r = await c.post(f"/reviews/{item['item_id']}", headers=consent.leader(),
                     json={"outcome": "justified", "note": "verified with the ambulance log"})
    assert r.status_code == 201, r.text

    async def reviewed():
        r = await c.get("/reviews?status=reviewed", headers=consent.leader())
        assert any(i["item_id"] == item["item_id"] and i["outcome"] == "justified"
                   for i in r.json())

    await passes(reviewed)
    r = await c.post(f"/reviews/{item['item_id']}", headers=consent.leader(),
                     json={"outcome": "justified"})
    assert r.status_code == 409
    # only the unit leader reviews
    assert (await c.get("/reviews", headers=consent.doctor())).status_code == 403

    # the patient sees the emergency access in their access log, marked as such
    async def in_log():
        r = await c.get(f"/patients/{patient}/access-log", headers=consent.citizen(pid))
        assert r.status_code == 200, r.text
        lines = [x for x in r.json() if x["hpr"] == "7654321" and x["permitted"]]
        assert lines and any(x["emergency"] for x in lines)
        assert {x["unit"] for x in lines} == {LEGEVAKT}
        # and that the unit leader's log control looked at it
        assert any(x["hpr"] == "1234567" and x["basis"] == "log_control" for x in r.json())
        return lines

    await passes(in_log)


async def test_school_sees_only_what_a_live_consent_covers(consent: Consent):
    c = consent.client
    child, _ = await consent.register(years_ago(9))
    parent, parent_pid = await consent.register(years_ago(38), slot=1)
    token = await consent.relate(child)
    r = await c.post(f"/patients/{child}/guardians", headers=consent.nurse() | {
        "X-Consistency-Token": token}, json={"guardian": parent, "shares_address": True})
    assert r.status_code == 201, r.text
    token = r.headers["X-Consistency-Token"]
    school = consent.sector("school", SCHOOL_ORG)
    ask = {"category": "school_health"}
    r = await c.post(f"/patients/{child}/disclosures", json=ask, headers=school)
    assert r.status_code == 403

    as_parent = consent.citizen(parent_pid, acting_for=child) | {"X-Consistency-Token": token}
    r = await c.post(f"/patients/{child}/consents", headers=as_parent, json={
        "sector": "school", "recipient_org": SCHOOL_ORG, "categories": ["school_health"],
        "purpose": "follow-up of asthma at school"})
    assert r.status_code == 201, r.text
    consent_id = r.json()["consent_id"]
    seen = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
    r = await c.post(f"/patients/{child}/disclosures", json=ask, headers=school | seen)
    assert r.status_code == 201, r.text
    r = await c.post(f"/patients/{child}/disclosures", json={"category": "notes"},
                     headers=school)
    assert r.status_code == 403, "only the consented category"

    r = await c.post(f"/patients/{child}/consents/{consent_id}/withdraw", headers=as_parent)
    assert r.status_code == 200
    seen = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
    r = await c.post(f"/patients/{child}/disclosures", json=ask, headers=school | seen)
    assert r.status_code == 403, "a withdrawn consent takes effect"
    r = await c.post(f"/patients/{child}/consents/{consent_id}/withdraw", headers=as_parent)
    assert r.status_code == 409


async def test_nav_never_gets_the_full_record(consent: Consent):
    c = consent.client
    patient, pid = await consent.register(years_ago(45))
    r = await c.post(f"/patients/{patient}/consents", headers=consent.citizen(pid), json={
        "sector": "nav", "categories": ["record"], "purpose": "sick leave"})
    assert r.status_code == 422
    r = await c.post(f"/patients/{patient}/consents", headers=consent.citizen(pid), json={
        "sector": "nav", "categories": ["sick_leave"], "purpose": "sick leave"})
    assert r.status_code == 201
    seen = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
    nav = consent.sector("nav", NAV_ORG)
    r = await c.post(f"/patients/{patient}/disclosures", headers=nav | seen,
                     json={"category": "sick_leave", "full_record": True})
    assert r.status_code == 403
    assert "aldri hele journalen" in r.json()["issue"][0]["diagnostics"]
    r = await c.post(f"/patients/{patient}/disclosures", headers=nav,
                     json={"category": "sick_leave", "period_from": "2026-01-01",
                           "period_to": "2026-03-31"})
    assert r.status_code == 201, r.text


async def test_parents_rights_follow_the_childs_age(consent: Consent):
    c = consent.client
    parent, parent_pid = await consent.register(years_ago(45), slot=1)
    young, _ = await consent.register(years_ago(12, days=-1))   # turns 12 tomorrow
    teen, _ = await consent.register(years_ago(16, days=-1), slot=2)  # 16 tomorrow
    adult, _ = await consent.register(years_ago(16), slot=3)  # 16 today
    token = None
    for child in (young, teen, adult):
        token = await consent.relate(child)
        r = await c.post(f"/patients/{child}/guardians", json={
            "guardian": parent, "shares_address": True},
            headers=consent.nurse() | {"X-Consistency-Token": token})
        assert r.status_code == 201, r.text
        token = r.headers["X-Consistency-Token"]

    def as_parent(child):
        return consent.citizen(parent_pid, acting_for=child) | {"X-Consistency-Token": token}

    r = await c.get("/me", headers=consent.citizen(parent_pid) | {"X-Consistency-Token": token})
    assert r.status_code == 200, r.text
    assert {x["patient_id"]: x["limited"] for x in r.json()["can_act_for"]} == {
        young: False, teen: True}, "the 16-year-old is no longer listed"
    r = await c.get(f"/patients/{young}/privacy", headers=as_parent(young))
    assert r.status_code == 200, r.text
    r = await c.get(f"/patients/{teen}/privacy", headers=as_parent(teen))
    assert r.status_code == 403, "parents do not manage a 12–16-year-old's choices"
    r = await c.get(f"/patients/{teen}/consents", headers=as_parent(teen))
    assert r.status_code == 200, "limited view the day before the 16th birthday"
    r = await c.get(f"/patients/{adult}/consents", headers=as_parent(adult))
    assert r.status_code == 403
    assert "16" in r.json()["issue"][0]["diagnostics"]


async def test_tokens_are_checked_before_anything_else(consent: Consent):
    c = consent.client
    patient, pid = await consent.register(years_ago(30))
    r = await c.get(f"/patients/{patient}/consents")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    # nobody unauthenticated gets the server to wait for a write
    unknown_write = ConsistencyToken(uuid.uuid4()).encode()
    r = await c.get(f"/patients/{patient}/consents",
                    headers={"X-Consistency-Token": unknown_write})
    assert r.status_code == 401
    r = await c.get(f"/patients/{patient}/consents",
                    headers=consent.citizen(pid, acr="idporten-loa-substantial"))
    assert r.status_code == 403
    r = await c.get(f"/patients/{patient}/consents", headers=consent.citizen(pid))
    assert r.status_code == 200


async def test_bad_input_is_a_readable_422_without_the_number(consent: Consent):
    c = consent.client
    r = await c.post("/persons", json={"national_id": "31129956716"}, headers=consent.nurse())
    assert r.status_code == 422
    text = r.text
    assert "31129956716" not in text and "check digit" in text
    patient, pid = await consent.register(years_ago(30))
    r = await c.post("/persons", json={"national_id": pid}, headers=consent.nurse())
    assert r.status_code == 409
    r = await c.post(f"/patients/{patient}/blocks", headers=consent.citizen(pid),
                     json={"target_kind": "unit", "target": "123456784"})
    assert r.status_code == 422 and "target" in r.text
    r = await c.post(f"/patients/{patient}/consents", headers=consent.citizen(pid), json={
        "sector": "school", "categories": ["a"], "purpose": "x",
        "valid_to": "2030-01-01T00:00:00"})
    assert r.status_code == 422 and "timezone" in r.text, "a time without a zone is ambiguous"
    for bad in ("not-a-uuid", "1234"):   # read by the guards themselves: FastAPI's 422 still
        r = await c.get(f"/patients/{bad}/consents", headers=consent.nurse())
        assert r.status_code == 422 and "patient_id" in r.text, r.text
        r = await c.post(f"/patients/{bad}/blocks", headers=consent.citizen(pid),
                         json={"target_kind": "unit", "target": "974600978"})
        assert r.status_code == 422 and "patient_id" in r.text, r.text


async def test_every_access_is_logged_in_a_verifiable_chain(consent: Consent, database_url,
                                                            schema):
    from libs.audit.verify import verify_db  # noqa: PLC0415

    c = consent.client
    patient, pid = await consent.register(years_ago(70))
    await c.get(f"/patients/{patient}/consents", headers=consent.doctor())      # denied
    token = await consent.relate(patient)
    await c.get(f"/patients/{patient}/consents",
                headers=consent.nurse() | {"X-Consistency-Token": token})       # permitted
    await c.get(f"/patients/{patient}/consents", headers=consent.citizen(pid))  # own
    report = await verify_db(database_url, schema)
    assert report.problems == []
    assert report.entries >= 5   # registration, denial, relation, two reads
