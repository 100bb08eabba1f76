"""The journal's administration drives need-to-know: a grant gives the provider unit access, an
episode gives its unit access, and ending them takes it away again (through the consent
service's journal_bridge, on real Kafka)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from libs.access.model import Role
from tests.journal.conftest import HOME_CARE, LEGEVAKT, Clinic
from tests.support.waiting import passes


async def test_ending_the_service_ends_the_providers_access(clinic: Clinic):
    patient_id, _ = await clinic.register()
    decision = await clinic.home_care_granted(patient_id)
    nurse = clinic.nurse()
    await clinic.until_allowed(nurse, patient_id)

    r = await clinic.journal.post(f"/patients/{patient_id}/services/{decision}/end",
                                  headers=clinic.case_worker(), json={"reason": "Flyttet"})
    assert r.status_code == 200, r.text

    async def no_longer() -> None:
        assert not await clinic.can(nurse, patient_id)
    await passes(no_longer)

    # the consent service holds the relation's whole story, with the journal as its cause
    r = await clinic.consent.get(f"/patients/{patient_id}/consents", headers=clinic.case_worker())
    assert r.status_code == 200, r.text
    events = await clinic.consent_app.state.store.load(f"access-{patient_id}")
    kinds = [(env.type, env.data.get("basis")) for env, _ in events]
    assert ("consent.CareRelationStarted", "service_decision") in kinds
    assert any(t == "consent.CareRelationEnded" for t, _ in kinds)
    assert all(env.causation_id is not None for env, _ in events
               if env.type.startswith("consent.CareRelation"))
    assert {env.data["source"] for env, _ in events
            if env.type == "consent.CareRelationStarted"} == {"journal"}


async def test_a_legevakt_episode_gives_the_unit_access_until_it_ends(clinic: Clinic):
    patient_id, _ = await clinic.register()
    doctor = clinic.legevakt()
    assert not await clinic.can(doctor, patient_id)
    cw = clinic.case_worker()
    await clinic.until_allowed(cw, patient_id)
    # the case worker opens the legevakt episode on arrival (as reception would)
    r = await clinic.journal.post(f"/patients/{patient_id}/episodes", headers=cw,
                                  json={"kind": "legevakt", "unit": LEGEVAKT})
    assert r.status_code == 201, r.text
    episode = r.json()["episode_id"]
    await clinic.until_allowed(doctor, patient_id)
    r = await clinic.journal.post(f"/patients/{patient_id}/notes?sign=true", headers=doctor,
                                  json={"kind": "legevakt_contact", "text": "Falt hjemme.",
                                        "episode_id": episode})
    assert r.status_code == 201, r.text
    r = await clinic.journal.post(f"/patients/{patient_id}/episodes/{episode}/end",
                                  headers=doctor, json={})
    assert r.status_code == 200, r.text

    async def no_longer() -> None:
        assert not await clinic.can(doctor, patient_id)
    await passes(no_longer)


async def test_reading_a_patient_with_ones_own_surname_is_flagged_for_log_control(
        clinic: Clinic):
    """Requirement 14: a professional's access to a patient who shares their surname becomes
    a review item for the unit leader, once per professional, patient and day."""
    patient_id, _ = await clinic.register()                      # Astrid Hansen
    await clinic.home_care_granted(patient_id)
    namesake = clinic.pro("9144800", HOME_CARE, name="Nina Hansen")
    other = clinic.pro("9144801", HOME_CARE, name="Per Olsen")
    await clinic.until_allowed(namesake, patient_id)
    for _ in range(2):
        assert await clinic.can(namesake, patient_id)
    assert await clinic.can(other, patient_id)
    leader = clinic.pro("1234567", HOME_CARE, (Role.unit_leader,), name="Leder")

    async def flagged() -> list[dict]:
        r = await clinic.consent.get("/reviews", headers=leader)
        assert r.status_code == 200, r.text
        items = [i for i in r.json() if i["kind"] == "same_surname"]
        assert items, r.json()
        return items

    items = await passes(flagged)
    assert len(items) == 1
    assert items[0]["patient_id"] == patient_id and items[0]["summary"]["hpr"] == "9144800"


async def test_a_question_to_our_legetjeneste_gives_the_receiving_unit_access(clinic: Clinic):
    """Issue 12: an inbound message the unit must answer is a fact that justifies its care
    relation (through its reply task), scoped to that unit; nobody declares it."""
    patient_id, national_id = await clinic.register()
    doctor = clinic.legevakt()     # unit 987654325: Legetjeneste PO, HER-id 8140002 (demo)
    assert not await clinic.can(doctor, patient_id)
    gate = clinic.bearer(clinic.issuer.mint_device("dev-edi-gateway"))
    r = await clinic.journal.post("/messages", headers=gate, json={
        "message_id": "henv-1", "kind": "dialogmelding", "dialog_type": "foresporsel",
        "sender": {"her_id": "123456", "name": "Sykehuset"}, "receiver_her": "8140002",
        "subject": "Oppfølging", "text": "Kan legetjenesten vurdere pasienten etter utskrivning?",
        "sent_at": (datetime.now(UTC) - timedelta(minutes=2)).isoformat(),
        "patient": {"national_id": national_id}})
    assert r.status_code == 201, r.text
    await clinic.until_allowed(doctor, patient_id)
    assert not await clinic.can(clinic.nurse(), patient_id), "only the receiving unit"
