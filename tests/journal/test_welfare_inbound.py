"""Welfare technology in the journal, on real Kafka and PostgreSQL (issue 15): the journal reads
``welfare.events`` and nothing else of the welfare service. A fall alarm's response task reaches
the home-care unit's worklist, shows its escalation and closes when the alert is resolved; a
measurement becomes an Observation in the overview and the FHIR API, performed by the device; a
quarantined one only once it is released, in the journal and in the patient's own record
(citizen); a rebuild from the topics gives the same rows."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

from sqlalchemy import text

from libs.events.db import make_engine
from libs.events.envelope import Actor
from libs.events.ports import EventContext, build_envelopes
from libs.events.migrations import run_migrations
from libs.events.projection import ProjectionRunner, replay
from services.journal.manifest import MANIFEST
from services.journal.projections.records import JournalRecordsProjection
from services.journal.projections.welfare import fold_task
from services.welfare import contract as w
from services.welfare.domain import codes
from tests.citizen.conftest import Portal, portal  # noqa: F401  (the citizen's stack)
from tests.journal.conftest import HOME_CARE
from tests.registry_export.support import produce
from tests.support.waiting import passes
from tests.welfare.conftest import ALARM, MONITOR, Home, flag, home, now, observation  # noqa: F401

ALERTS = Actor(kind="system", id="welfare-alerts")
PULSE, SPO2 = "8867-4", "59408-5"


async def _worklist(home: Home) -> list[dict]:
    r = await home.c.journal.get("/worklist", headers=home.c.nurse())
    assert r.status_code == 200, r.text
    return r.json()["tasks"]


async def _fall(home: Home, patient: str) -> tuple[UUID, UUID]:
    """A fall alarm from the safety alarm, and what the alert rules record for it (a red
    alert and its response task, through the welfare service's own write path)."""
    r = await home.api.post("/ingest/Flag", headers=home.device("alarm-1"),
                            json=flag(patient, "fall-1", code="4.1", severity=3))
    assert r.status_code == 201, r.text
    reading_id = UUID(r.json()["reading_id"])
    task_id, alert_id, at = uuid4(), uuid4(), now()
    outputs = [w.AlertRaised(alert_id=alert_id, reading_id=reading_id, system=codes.ALERT_SYSTEM,
                             code="4.1", display="Fall", severity=3, unit=HOME_CARE,
                             task_id=task_id, occurred_at=at, raised_at=at,
                             due_at=at + timedelta(minutes=30)),
               w.TaskCreated(task_id=task_id, kind="response", title="Rød alarm: fall",
                             unit=HOME_CARE, due_at=at + timedelta(minutes=30),
                             reading_ids=[reading_id], created_at=at)]
    assert await home.app.state.intake.rule_outputs(UUID(patient), reading_id, outputs, ALERTS)
    return task_id, alert_id


async def test_a_fall_alarm_is_a_task_on_the_worklist_that_escalates_and_closes(home: Home):
    patient = await home.person()
    await home.assign(patient, "alarm-1", ALARM)
    await home.cover(patient, ALARM)
    task_id, alert_id = await _fall(home, patient)

    async def on_worklist(state: str, level: int) -> dict:
        tasks = {t["task_id"]: t for t in await _worklist(home)}
        assert str(task_id) in tasks
        task = tasks[str(task_id)]
        assert task["severity"] == 3 and task["alert"]["state"] == state
        assert task["alert"]["level"] == level and task["unit"] == HOME_CARE
        assert task["patient"]["name"] and task["title"] == "Rød alarm: fall"
        return task
    raised = await passes(lambda: on_worklist("raised", 0), timeout_s=30)

    # nobody acknowledged it in time: the next level, due again later
    later = now() + timedelta(minutes=15)
    step = w.AlertEscalated(alert_id=alert_id, level=1, due_at=later, escalated_at=now())
    assert await home.app.state.intake.alert_step(UUID(patient), alert_id, "escalated-1",
                                                  [step], ALERTS) is not None
    escalated = await passes(lambda: on_worklist("escalated", 1), timeout_s=30)
    assert escalated["due_at"] != raised["due_at"]

    url = f"/patients/{patient}/alerts/{alert_id}"
    r = await home.api.post(f"{url}/acknowledge", headers=home.c.nurse())
    assert r.status_code == 200, r.text
    taken = await passes(lambda: on_worklist("acknowledged", 1), timeout_s=30)
    assert taken["assignee"] == "9144889"
    r = await home.api.post(f"{url}/resolve", headers=home.c.nurse(),
                            json={"note": "Hjulpet opp, ingen skade."})
    assert r.status_code == 200, r.text

    async def closed() -> None:
        assert str(task_id) not in {t["task_id"] for t in await _worklist(home)}
    await passes(closed, timeout_s=30)

    rebuilt, live = await _rebuilt_and_live(home, patient)
    assert rebuilt == live   # replayed: the same rows, each event applied once
    assert [(t[0], t[1], t[3]["alert"]["state"]) for t in live[0]] == [
        (task_id, "completed", "resolved")]


async def test_measurements_are_observations_and_quarantined_ones_wait_for_release(home: Home):
    patient = await home.person()
    await home.assign(patient, "tablet-1", MONITOR)
    tablet = home.device("tablet-1")
    # no legal basis yet: quarantined
    r = await home.api.post("/ingest/Observation", headers=tablet,
                            json=observation(patient, "spo2-1", code=SPO2, value=91))
    assert r.status_code == 201, r.text
    held = r.json()["reading_id"]
    await home.cover(patient, MONITOR)
    r = await home.api.post("/ingest/Observation", headers=tablet,
                            json=observation(patient, "pulse-1", code=PULSE, value=72,
                                             unit="/min"))
    assert r.status_code == 201, r.text

    async def vitals() -> dict[str, dict]:
        r = await home.c.journal.get(f"/patients/{patient}", headers=home.c.nurse())
        assert r.status_code == 200, r.text
        return {o["code"]: o for o in r.json()["latest_vital_signs"]}

    async def pulse_shown() -> dict:
        shown = await vitals()
        assert PULSE in shown
        assert shown[PULSE]["value"] == 72 and shown[PULSE]["unit"] == "/min"
        return shown
    shown = await passes(pulse_shown, timeout_s=30)
    assert SPO2 not in shown   # quarantined: used for nothing

    r = await home.c.journal.get("/fhir/Observation", params={"patient": patient},
                                 headers=home.c.nurse())
    assert r.status_code == 200, r.text
    found = [e["resource"] for e in r.json().get("entry", [])]
    assert [o["code"]["coding"][0]["code"] for o in found] == [PULSE]
    performer = found[0]["performer"][0]
    assert performer["type"] == "Device" and performer["identifier"]["value"] == "tablet-1"
    assert "Practitioner" not in str(found[0])   # a device has no HPR number
    r = await home.c.journal.get(f"/fhir/Observation/{found[0]['id']}", headers=home.c.nurse())
    assert r.status_code == 200 and r.json()["valueQuantity"]["value"] == 72

    r = await home.api.post(f"/patients/{patient}/quarantine/{held}/release",
                            headers=home.leader(), json={"reason": "samtykke journalført"})
    assert r.status_code == 200, r.text

    async def released() -> None:
        shown = await vitals()
        assert SPO2 in shown and shown[SPO2]["value"] == 91
    await passes(released, timeout_s=30)

    rebuilt, live = await _rebuilt_and_live(home, patient)
    assert rebuilt == live   # replayed: the same rows, each event applied once
    assert sorted(o[1] for o in live[1]) == sorted([PULSE, SPO2])
    assert [v[1] for v in live[2]] == [1, 1]   # one FHIR version per observation


async def test_the_patient_sees_a_released_measurement_in_the_citizen_record(portal: Portal):
    """welfare.events as the welfare service publishes them: an accepted pulse, a quarantined
    SpO2 and its release; the patient's own record shows the pulse, the SpO2 once released."""
    kari, pid = await portal.kari()
    at = now() - timedelta(minutes=5)

    def reading(code: str, value: float, ucum: str) -> w.Measurement:
        return w.Measurement(reading_id=uuid4(), device="tablet-1", device_event_id=code,
                             technology=MONITOR, effective_at=at, received_at=at, code=code,
                             components=[w.Component(code=code, value=value, ucum=ucum)])
    pulse, spo2 = reading(PULSE, 64, "/min"), reading(SPO2, 93, "%")
    envs = build_envelopes(w.stream_of(UUID(kari)), 0, [
        w.MeasurementReceived(reading=pulse),
        w.ReadingQuarantined(reading=spo2, reading_id=spo2.reading_id, reason="uten samtykke")],
        EventContext(patient_id=UUID(kari), actor=Actor(kind="device", id="tablet-1")),
        now(), None)
    topic = portal.c.journal_app.state.store.topic_names["welfare.events"]
    settings = portal.c.journal_app.state.settings
    await produce(settings.kafka_bootstrap_servers, topic, envs)

    async def vitals(*expected: str) -> dict[str, float]:
        r = await portal.api.get(f"/patients/{kari}/record", headers=portal.c.citizen(pid))
        assert r.status_code == 200, r.text
        shown = {v["code"]: v["points"][-1]["value"] for v in r.json()["vital_signs"]}
        assert set(expected) <= set(shown)
        return shown
    assert SPO2 not in await passes(lambda: vitals(PULSE), timeout_s=30)

    release = w.QuarantineReleased(reading=spo2, reading_id=spo2.reading_id, reason="samtykke",
                                   by="1234567", unit=HOME_CARE, decided_at=now())
    await produce(settings.kafka_bootstrap_servers, topic, build_envelopes(
        w.stream_of(UUID(kari)), 2, [release],
        EventContext(patient_id=UUID(kari), actor=Actor(kind="practitioner", id="1234567")),
        now(), None))
    shown = await passes(lambda: vitals(PULSE, SPO2), timeout_s=30)
    assert shown == {PULSE: 64, SPO2: 93}


async def _rebuilt_and_live(home: Home, patient: str) -> tuple[tuple, tuple]:
    """The patient's worklist rows, observations and FHIR Observation versions: as the journal's
    read model holds them, and rebuilt from the topics into a fresh schema."""
    settings = home.c.journal_app.state.settings
    url = settings.effective_database_url
    await run_migrations(url, f"{home.schema}_rebuilt")
    fresh = make_engine(url, f"{home.schema}_rebuilt")
    runner = ProjectionRunner(JournalRecordsProjection(home.topics["journal.events"],
                                                       home.topics["welfare.events"]),
                              fresh, settings.effective_kafka, registry=MANIFEST.registry())
    try:
        await replay(runner)
        return await _rows(fresh, patient), await _rows(home.c.journal_app.state.engine, patient)
    finally:
        await fresh.dispose()


async def _rows(engine, patient: str) -> tuple:
    out = []
    async with engine.connect() as conn:
        for sql in ("SELECT task_id, status, due_at, doc FROM journal_tasks "
                    "WHERE patient_id = :p ORDER BY task_id",
                    "SELECT observation_id, code, status, doc FROM journal_observations "
                    "WHERE patient_id = :p ORDER BY observation_id",
                    "SELECT id, version_id, doc FROM journal_fhir WHERE patient_id = :p "
                    "AND resource_type = 'Observation' ORDER BY id, version_id"):
            rows = await conn.execute(text(sql), {"p": UUID(patient)})
            out.append([tuple(r) for r in rows])
    return tuple(out)


def test_an_alert_s_steps_fold_into_its_worklist_row_in_either_order():
    """Pure: the row an alert and its task make is the same whichever comes first, follows
    each step, and an alert the row does not know changes nothing."""
    at, task_id, alert_id = now(), uuid4(), uuid4()
    raised = w.AlertRaised(alert_id=alert_id, reading_id=uuid4(), system=codes.ALERT_SYSTEM,
                           code="4.13", display="Alarmknapp", severity=3, unit=HOME_CARE,
                           task_id=task_id, occurred_at=at, raised_at=at,
                           due_at=at + timedelta(minutes=30))
    task = w.TaskCreated(task_id=task_id, kind="response", title="Rød alarm: alarmknapp",
                         unit=HOME_CARE, due_at=at + timedelta(minutes=30), created_at=at)
    one = fold_task(fold_task(None, raised), task)
    assert one == fold_task(fold_task(None, task), raised)
    assert (one["status"], one["alert"]["state"], one["severity"]) == ("requested", "raised", 3)
    steps = [w.AlertAcknowledged(alert_id=alert_id, by="9144889", unit=HOME_CARE,
                                 acknowledged_at=at),
             w.AlertEnRoute(alert_id=alert_id, by="9144889", unit=HOME_CARE, en_route_at=at),
             w.AlertResolved(alert_id=alert_id, note="Trykket ved en feil.", by="9144889",
                             unit=HOME_CARE, resolved_at=at)]
    states = []
    for step in steps:
        one = fold_task(one, step)
        states.append((one["alert"]["state"], one["status"], one["assignee"]))
    assert states == [("acknowledged", "requested", "9144889"),
                      ("en_route", "requested", "9144889"),
                      ("resolved", "completed", "9144889")]
    assert fold_task(fold_task(None, task), steps[0]) is None   # no alert on that row
