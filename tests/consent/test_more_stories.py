"""More of the access model through the API: restricted entries, mandates, the duty to notify
child welfare, FHIR Consent and AuditEvent, and a check that every patient route is guarded."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from libs.kernel.time import local_day

from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.consent import Consent as FhirConsent

from services.consent.app import Options, create_app
from services.consent.manifest import MANIFEST
from tests.consent.conftest import SCHOOL_ORG, Consent
from tests.support.routes import patient_routes, unguarded_routes
from tests.support.waiting import passes


def today() -> date:
    """Today in Oslo, as the policy counts ages, when the test runs (not when collected)."""
    return local_day(datetime.now(UTC))


def years_ago(years: int) -> date:
    d = today()
    return d.replace(year=d.year - years) - timedelta(days=3)


def token(r) -> dict[str, str]:
    assert r.status_code in (200, 201), r.text
    return {"X-Consistency-Token": r.headers["X-Consistency-Token"]}


async def test_restricted_entries_need_a_stated_basis_and_tell_the_patient(consent: Consent):
    c = consent.client
    patient, pid = await consent.register(years_ago(52))
    await consent.relate(patient)
    me = consent.citizen(pid)
    token(await c.put(f"/patients/{patient}/notifications", headers=me,
                      json={"restricted_opened": True}))
    seen = token(await c.post(f"/patients/{patient}/restrictions", headers=me,
                              json={"target": "note-42", "notify_on_open": True}))
    r = await c.post(f"/patients/{patient}/restricted-entries/open",
                     headers=consent.nurse() | seen, json={"entries": ["note-42"]})
    assert r.status_code == 422, "no basis, no opening"
    r = await c.post(f"/patients/{patient}/restricted-entries/open",
                     headers=consent.nurse() | seen,
                     json={"entries": ["note-42"], "basis": "consent",
                           "reason": "the patient asked me to read it with her"})
    assert r.status_code == 200, r.text
    assert r.json() == {"opened": ["note-42"], "patient_notified": True}

    # the opening is in the access log the patient sees
    async def logged():
        r = await c.get(f"/patients/{patient}/access-log", headers=me)
        assert any(x["what"] == "record" and x["hpr"] == "9144889" and x["permitted"]
                   for x in r.json()), r.json()

    await passes(logged)
    # the patient's own view lists the restriction
    r = await c.get(f"/patients/{patient}/privacy", headers=me)
    assert [x["target"] for x in r.json()["restrictions"]] == ["note-42"]


async def test_a_mandate_lets_a_grown_child_act_for_an_old_parent(consent: Consent):
    c = consent.client
    mother, mother_pid = await consent.register(years_ago(88))
    son, son_pid = await consent.register(years_ago(55), slot=1)
    grandchild, _ = await consent.register(years_ago(15), slot=2)
    as_son = consent.citizen(son_pid, acting_for=mother)
    r = await c.get(f"/patients/{mother}/consents", headers=as_son)
    assert r.status_code == 403
    r = await c.post(f"/patients/{mother}/mandates", headers=consent.citizen(mother_pid),
                     json={"representative": grandchild})
    assert r.status_code == 422 and "18" in r.text, "a representative is 18 or over"
    seen = token(await c.post(f"/patients/{mother}/mandates",
                              headers=consent.citizen(mother_pid),
                              json={"representative": son, "categories": ["consents"]}))
    r = await c.get(f"/patients/{mother}/consents", headers=as_son | seen)
    assert r.status_code == 200, r.text
    r = await c.get(f"/patients/{mother}/access-log", headers=as_son | seen)
    assert r.status_code == 403, "only what the mandate covers"
    r = await c.post(f"/patients/{mother}/mandates", headers=as_son | seen,
                     json={"representative": son})
    assert r.status_code == 403, "a representative cannot pass the mandate on"


async def test_duty_to_notify_child_welfare_needs_no_consent(consent: Consent):
    c = consent.client
    child, _ = await consent.register(years_ago(7))
    r = await c.post(f"/patients/{child}/child-welfare-reports", headers=consent.nurse(),
                     json={"grounds": "injuries", "content": "bruises on both arms"})
    assert r.status_code == 403, "the duty does not open a stranger's record"
    seen = {"X-Consistency-Token": await consent.relate(child)}
    r = await c.post(f"/patients/{child}/child-welfare-reports", headers=consent.nurse() | seen,
                     json={"grounds": "suspected neglect", "content": "no food at home, "
                           "left alone for days", "disclosed_entries": ["note-7"]})
    assert r.status_code == 201, r.text
    events = await consent.app.state.store.load(f"access-{child}")
    report = [p for _, p in events if type(p).__name__ == "ChildWelfareReported"]
    assert report and report[0].disclosed_entries == ["note-7"]
    assert not any(type(p).__name__ == "ConsentGiven" for _, p in events)


async def test_fhir_consent_and_audit_event_are_valid_r4(consent: Consent):
    c = consent.client
    patient, pid = await consent.register(years_ago(10))
    parent, parent_pid = await consent.register(years_ago(40), slot=1)
    seen = {"X-Consistency-Token": await consent.relate(patient)}
    seen = token(await c.post(f"/patients/{patient}/guardians", headers=consent.nurse() | seen,
                              json={"guardian": parent, "shares_address": True}))
    as_parent = consent.citizen(parent_pid, acting_for=patient) | seen
    seen = token(await c.post(f"/patients/{patient}/consents", headers=as_parent, json={
        "sector": "school", "recipient_org": SCHOOL_ORG, "categories": ["school_health"],
        "purpose": "asthma"}))
    # a date without a zone is a UTC day in FHIR search (libs/web/fhir/search.py)
    utc_today = datetime.now(UTC).date().isoformat()
    r = await c.get(f"/fhir/Consent?patient={patient}&date=ge{utc_today}",
                    headers=as_parent | seen)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate(r.json())
    assert bundle.total == 1
    consent_json = r.json()["entry"][0]["resource"]
    FhirConsent.model_validate(consent_json)
    assert consent_json["status"] == "active"
    r = await c.get(f"/fhir/Consent/{consent_json['id']}", headers=consent.nurse())
    assert r.status_code == 200
    r = await c.get(f"/fhir/Consent/{consent_json['id']}", headers=consent.doctor())
    assert r.status_code == 403
    r = await c.get(f"/fhir/Consent?patient={patient}&date=yesterday", headers=as_parent)
    assert r.status_code == 422

    async def audit():
        r = await c.get(f"/fhir/AuditEvent?patient={patient}", headers=consent.citizen(pid))
        assert r.status_code == 200, r.text
        assert len(r.json().get("entry", [])) >= 3
        return r.json()

    found = await passes(audit)
    for entry in found["entry"]:
        AuditEvent.model_validate(entry["resource"])
    one = found["entry"][0]["resource"]["id"]
    r = await c.get(f"/fhir/AuditEvent/{one}", headers=consent.citizen(pid))
    assert r.status_code == 200
    assert (await c.get(f"/fhir/AuditEvent/{one}", headers=consent.nurse())).status_code == 403
    r = await c.get("/fhir/metadata")
    assert {x["type"] for x in r.json()["rest"][0]["resource"]} == {"Consent", "AuditEvent"}


def test_every_route_that_names_a_patient_is_decided_and_logged(tmp_path):
    """A route with a patient in its path must either depend on ``guarded`` or call
    ``access.require`` / ``access.record`` itself (which log before answering)."""
    from libs.config import Settings  # noqa: PLC0415

    app = create_app(Settings(environment="test", dev_key_path=tmp_path / "k.pem"),
                     Options(telemetry=False))
    assert len(patient_routes(app)) >= 20   # the walk sees the included routers
    assert unguarded_routes(app, ("access.require(", "access.record(", "_audit_scope(",
                                  "_consents(")) == []


async def test_another_service_projects_the_same_facts_from_the_topic(
        consent: Consent, database_url, kafka_bootstrap, unique):
    """Every service runs access_facts locally: a second service's schema, fed only from
    consent.events, decides on exactly the facts the consent service holds."""
    from sqlalchemy import text  # noqa: PLC0415

    from libs.audit.facts_store import AccessFactsProjection, FactsReader  # noqa: PLC0415
    from libs.events.db import make_engine  # noqa: PLC0415
    from libs.events.migrations import run_migrations  # noqa: PLC0415
    from libs.events.projection import ProjectionRunner, replay  # noqa: PLC0415

    c = consent.client
    patient, pid = await consent.register(years_ago(11))
    parent, _ = await consent.register(years_ago(41), slot=1)
    seen = {"X-Consistency-Token": await consent.relate(patient)}
    token(await c.post(f"/patients/{patient}/guardians", headers=consent.nurse() | seen,
                       json={"guardian": parent, "shares_address": False}))
    token(await c.post(f"/patients/{patient}/blocks", headers=consent.citizen(pid),
                       json={"target_kind": "unit", "target": SCHOOL_ORG}))
    last = token(await c.post(f"/patients/{patient}/emergency-access", headers=consent.doctor(),
                              json={"basis": "consent", "reason": "asked at the door"}))
    await c.get(f"/patients/{patient}/consents", headers=consent.nurse() | last)  # caught up

    other = f"t_other_{unique}"
    await run_migrations(database_url, other)
    engine = make_engine(database_url, other)
    try:
        topic = consent.app.state.runners[0].projection.topics[0]
        stats = await replay(ProjectionRunner(AccessFactsProjection(topic), engine,
                                              kafka_bootstrap, registry=MANIFEST.registry()))
        assert stats.applied >= 5
        mine = await consent.app.state.access.reader.facts(patient)
        theirs = await FactsReader(engine).facts(patient)
        assert theirs == mine
        assert len(theirs.blocks) == 1 and len(theirs.emergency_accesses) == 1
        assert await FactsReader(engine).patient_for(pid) == mine.patient_id
        async with engine.connect() as conn:
            n = (await conn.execute(text("SELECT count(*) FROM access_facts"))).scalar_one()
        assert n == 2
    finally:
        await engine.dispose()
