"""Issue 12 through the consent service's API, on real PostgreSQL and Kafka: who may start a
care relation (findings 1), an HPR number spelled with a leading zero (2), emergency access as an
existence oracle (7), and implausible dates (5)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from libs.access.model import Role
from libs.kernel.time import local_day
from services.consent.domain.relations import RelationRules
from tests.consent.conftest import HOME_CARE, LEGEVAKT_ORG, MUNICIPALITY, Consent
from tests.support.waiting import passes

NURSING_HOME = "974600986"   # another unit of the municipality
GENERIC = "You have no need-to-know for this information."
BODY = {"purpose": "home care", "basis": "service_decision", "reason": "vedtak om hjemmesykepleie"}


def today() -> date:
    """Today in Oslo, as the policy counts ages, when the test runs (not when collected)."""
    return local_day(datetime.now(UTC))


def born(years: int):
    d = today()
    return d.replace(year=d.year - years)


def later(**delta) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def test_no_professional_gives_themselves_need_to_know(consent: Consent):
    """Finding 1: the attacker's request, by a nurse, a physician of another organisation and
    role `other`, is the generic 403, the same for an unknown patient; nothing is started, and
    the attempt is a review item for the unit leader."""
    c = consent.client
    patient, _ = await consent.register(born(80))
    unknown = str(uuid.uuid4())
    other = consent.bearer(consent.issuer.mint_practitioner(
        "5550001", "889640790", None, (Role.other,), "Ola Other"))
    bodies = ({"purpose": "x", "basis": "other", "reason": "curious"}, BODY)
    for who in (consent.nurse(), consent.doctor(), other):
        for body in bodies:
            answers = [await c.post(f"/patients/{p}/care-relations", headers=who, json=body)
                       for p in (patient, unknown)]
            assert {r.status_code for r in answers} == {403}, answers[0].text
            assert answers[0].json() == answers[1].json()
            assert GENERIC in answers[0].json()["issue"][0]["diagnostics"]
    for who in (consent.nurse(), consent.doctor(), other):
        r = await c.get(f"/patients/{patient}/consents", headers=who)
        assert r.status_code == 403, "no relation was started"

    async def flagged():
        r = await c.get("/reviews", headers=consent.leader())
        assert any(i["kind"] == "access_without_care_relation"
                   and i["summary"]["category"] == "care_relations"
                   and str(i["patient_id"]) == patient for i in r.json()), r.json()

    await passes(flagged)


async def test_the_unit_leader_assigns_care_relations_for_their_unit(consent: Consent):
    """AC3: the data controller assigns access, with a basis and a reason; a named relation
    covers only that professional, whatever way their HPR number is written."""
    c = consent.client
    patient, pid = await consent.register(born(70))
    leader = consent.leader(HOME_CARE, MUNICIPALITY)
    r = await c.post(f"/patients/{patient}/care-relations", headers=leader,
                     json={"purpose": "home care", "basis": "service_decision"})
    assert r.status_code == 422 and "reason" in r.text
    r = await c.post(f"/patients/{patient}/care-relations", headers=leader,
                     json=BODY | {"hpr": "09144889"})
    assert r.status_code == 201, r.text
    seen = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
    r = await c.get(f"/patients/{patient}/consents", headers=consent.nurse() | seen)
    assert r.status_code == 200, r.text
    r = await c.get(f"/patients/{patient}/consents", headers=consent.nurse(hpr="9144890"))
    assert r.status_code == 403, "named to a colleague"

    # the patient sees who assigned it and why
    async def logged():
        r = await c.get(f"/patients/{patient}/access-log", headers=consent.citizen(pid))
        assert any(x["hpr"] == "1234567" and x["what"] == "care_relations"
                   and x["how"] == "tilgang tildelt av enhetsleder"
                   and "vedtak om hjemmesykepleie" in x["purpose"] for x in r.json()), r.json()

    await passes(logged)


async def test_self_declared_relations_only_where_allowed_time_limited_and_reviewed(
        consent: Consent):
    c = consent.client
    patient, _ = await consent.register(born(75))
    r = await c.post(f"/patients/{patient}/care-relations",
                     headers=consent.leader(HOME_CARE, MUNICIPALITY), json=BODY)
    assert r.status_code == 201, r.text
    seen = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
    night_nurse = consent.nurse(hpr="9144891", unit=NURSING_HOME, name="Natt Sykepleier")
    declare = {"purpose": "nattevakt", "basis": "other", "reason": "pasienten flyttet hit i natt"}

    # off by default
    r = await c.post(f"/patients/{patient}/care-relations", headers=night_nurse | seen,
                     json=declare)
    assert r.status_code == 403 and GENERIC in r.text

    consent.app.state.relation_rules = RelationRules(
        self_declared={MUNICIPALITY: frozenset({Role.nurse}),
                       LEGEVAKT_ORG: frozenset({Role.physician})})
    # outside the patient's treating organisations: emergency access only
    r = await c.post(f"/patients/{patient}/care-relations", headers=consent.doctor(),
                     json=declare)
    assert r.status_code == 403 and GENERIC in r.text
    # not for someone else, and not beyond the maximum (24 h)
    r = await c.post(f"/patients/{patient}/care-relations", headers=night_nurse,
                     json=declare | {"hpr": "9144889"})
    assert r.status_code == 403
    r = await c.post(f"/patients/{patient}/care-relations", headers=night_nurse,
                     json=declare | {"ends_at": later(hours=25)})
    assert r.status_code == 422 and "too far ahead" in r.text
    r = await c.post(f"/patients/{patient}/care-relations", headers=night_nurse, json=declare)
    assert r.status_code == 201, r.text
    relation = r.json()["relation_id"]
    seen = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
    r = await c.get(f"/patients/{patient}/consents", headers=night_nurse | seen)
    assert r.status_code == 200, r.text
    r = await c.get(f"/patients/{patient}/consents", headers=consent.nurse(
        hpr="9144892", unit=NURSING_HOME) | seen)
    assert r.status_code == 403, "a self-declared relation is the declarer's own"

    async def reviewed():
        r = await c.get("/reviews", headers=consent.leader(NURSING_HOME, MUNICIPALITY))
        items = [i for i in r.json() if i["kind"] == "self_declared_relation"
                 and str(i["patient_id"]) == patient]
        assert len(items) == 1, r.text   # an assertion, so passes() waits for the log
        return items[0]

    item = await passes(reviewed)
    assert item["summary"]["hpr"] == "9144891"
    assert item["summary"]["reason"] == declare["reason"]
    ends = datetime.fromisoformat(item["summary"]["ends_at"])
    assert ends <= datetime.now(UTC) + timedelta(hours=4, minutes=1)
    assert relation


async def test_a_block_holds_whatever_way_the_hpr_number_is_written(consent: Consent):
    """Finding 2: Kari blocks 7654321; a token with hpr "07654321" is the same person, refused
    through a care relation and through emergency access alike."""
    c = consent.client
    patient, pid = await consent.register(born(45))
    r = await c.post(f"/patients/{patient}/blocks", headers=consent.citizen(pid),
                     json={"target_kind": "practitioner", "target": "7654321"})
    assert r.status_code == 201, r.text
    r = await c.post(f"/patients/{patient}/blocks", headers=consent.citizen(pid),
                     json={"target_kind": "practitioner", "target": "0007654321"})
    assert r.status_code == 409, "the same professional"
    zero = consent.doctor(hpr="07654321")
    r = await c.post(f"/patients/{patient}/emergency-access", headers=zero,
                     json={"basis": "necessity", "reason": "unconscious, brought in"})
    assert r.status_code == 201, r.text
    seen = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
    r = await c.get(f"/patients/{patient}/consents", headers=zero | seen)
    assert r.status_code == 403 and GENERIC in r.text

    r = await c.post(f"/patients/{patient}/care-relations", headers=consent.leader(),
                     json=BODY | {"basis": "legevakt_contact"})
    assert r.status_code == 201, r.text
    seen = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
    r = await c.get(f"/patients/{patient}/consents", headers=zero | seen)
    assert r.status_code == 403 and "Withheld by the patient" in r.text
    r = await c.get(f"/patients/{patient}/consents", headers=consent.doctor(hpr="7654322"))
    assert r.status_code == 200, "a colleague at legevakt is not blocked"


async def test_emergency_access_does_not_tell_whether_a_patient_exists(consent: Consent):
    """Finding 7: a random id is answered like a patient who blocked the caller: 201, then the
    generic 403 (it was 201, then 404)."""
    c = consent.client
    patient, pid = await consent.register(born(33))
    r = await c.post(f"/patients/{patient}/blocks", headers=consent.citizen(pid),
                     json={"target_kind": "practitioner", "target": "7654321"})
    assert r.status_code == 201, r.text
    answers = []
    for p in (patient, str(uuid.uuid4())):
        r = await c.post(f"/patients/{p}/emergency-access", headers=consent.doctor(),
                         json={"basis": "necessity", "reason": "unconscious, brought in"})
        assert r.status_code == 201, r.text
        seen = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
        r = await c.get(f"/patients/{p}/consents", headers=consent.doctor() | seen)
        answers.append((r.status_code, r.json()))
    assert answers[0] == answers[1] and answers[0][0] == 403


async def test_implausible_dates_are_a_422(consent: Consent):
    """Finding 5: a care relation ending in year 9999 (or in the past, or in 11 years), and a
    consent from yesterday or for 11 years, are refused, never a 500 or a 201."""
    c = consent.client
    patient, pid = await consent.register(born(50))
    leader = consent.leader(HOME_CARE, MUNICIPALITY)
    for ends_at in ("9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59+00:00",
                    "0001-01-01T00:00:00+14:00", later(hours=-1), later(days=11 * 365)):
        r = await c.post(f"/patients/{patient}/care-relations", headers=leader,
                         json=BODY | {"ends_at": ends_at})
        assert r.status_code == 422, (ends_at, r.text)
    r = await c.post(f"/patients/{patient}/care-relations", headers=leader,
                     json=BODY | {"ends_at": later(days=365)})
    assert r.status_code == 201, r.text
    me = consent.citizen(pid)
    consent_body = {"sector": "school", "categories": ["school_health"], "purpose": "skole"}
    for dates in ({"valid_to": "9999-12-31T23:59:59-14:00"}, {"valid_to": later(days=4000)},
                  {"valid_from": later(days=-1)}, {"valid_to": later(hours=-1)},
                  {"valid_from": "0001-01-01T00:00:00+14:00"}):
        r = await c.post(f"/patients/{patient}/consents", headers=me, json=consent_body | dates)
        assert r.status_code == 422, (dates, r.text)
    r = await c.post(f"/patients/{patient}/consents", headers=me,
                     json=consent_body | {"valid_to": later(days=365)})
    assert r.status_code == 201, r.text


def test_the_organisations_policy_comes_from_the_settings(tmp_path):
    """EHR_SELF_DECLARED_RELATIONS (per organisation number and role) is off by default."""
    from services.consent.app import Options, create_app  # noqa: PLC0415
    from services.consent.settings import ConsentSettings  # noqa: PLC0415

    base = {"environment": "test", "dev_key_path": tmp_path / "key.pem"}
    off = create_app(ConsentSettings(**base), Options(telemetry=False)).state.relation_rules
    assert off.self_declared == {} and off.self_declared_max_hours == 24
    on = create_app(ConsentSettings(**base, self_declared_relations={MUNICIPALITY: ["nurse"]},
                                    self_declared_relation_hours=2),
                    Options(telemetry=False)).state.relation_rules
    assert on.self_declared == {MUNICIPALITY: frozenset({Role.nurse})}
    assert on.self_declared_hours == 2
