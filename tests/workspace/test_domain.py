"""The round and the charts, pure: no I/O."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from services.workspace.domain import visit
from services.workspace.domain.chart import HEIGHT, PAD, WIDTH, charts
from services.workspace.domain.worklist import OSLO, address_line, round_of

DAY = date(2026, 3, 10)
NOW = datetime(2026, 3, 10, 11, 0, tzinfo=OSLO)


def task(patient: str, due_h: float, made_h: float, title: str = "Besøk", name: str = "Kari",
         tid: str | None = None) -> dict:
    at = datetime(2026, 3, 10, tzinfo=OSLO)
    return {"task_id": tid or f"{patient}-{due_h}-{title}", "patient_id": patient,
            "title": title, "kind": "home_care_visit",
            "due_at": (at + timedelta(hours=due_h)).isoformat(),
            "created_at": (at + timedelta(hours=made_h)).isoformat(),
            "patient": {"name": name, "address": {"lines": ["Kirkeveien 10"],
                                                  "postal_code": "0368", "city": "Oslo"}}}


def test_visits_come_in_time_order_and_one_visit_holds_a_patients_tasks_at_that_time():
    visits = round_of([task("b", 14, 1, name="Ola"), task("a", 8, 1, "Medisiner"),
                       task("a", 8, 1, "Sårstell"), task("a", 20, 1)], NOW, DAY)
    assert [(v.name, v.due_at.hour) for v in visits] == [("Kari", 8), ("Ola", 14),
                                                         ("Kari", 20)]
    assert [t["title"] for t in visits[0].tasks] == ["Medisiner", "Sårstell"]
    assert visits[0].address == "Kirkeveien 10, 0368 Oslo"


def test_a_visit_past_its_time_is_overdue_and_one_made_after_the_morning_is_new():
    late, later, alarm = round_of([task("a", 8, 1), task("b", 14, 2),
                                   task("c", 15, 9.5, "Trygghetsalarm")], NOW, DAY)
    assert (late.overdue, late.new) == (True, False)
    assert (later.overdue, later.new) == (False, False)
    assert (alarm.overdue, alarm.new) == (False, True)
    assert alarm.tasks[0]["new"]


def test_an_address_without_parts_is_empty():
    assert address_line(None) == ""
    assert address_line({"lines": [], "city": "Oslo"}) == "Oslo"


def obs(code: str, minutes: int, value: float, status: str = "final") -> dict:
    at = NOW + timedelta(minutes=minutes)
    return {"code": code, "value": value, "unit": "/min", "effective_at": at.isoformat(),
            "status": status}


def test_a_chart_per_code_scaled_into_its_box_oldest_first_without_errors():
    pulse, = [c for c in charts([obs("8867-4", 20, 90), obs("8867-4", 0, 70),
                                 obs("8867-4", 10, 80), obs("8867-4", 30, 150,
                                                            "entered-in-error")])]
    assert [v for _, v in pulse.points] == [70, 80, 90]
    assert pulse.latest == 90 and (pulse.low, pulse.high) == (70, 90)
    assert pulse.svg == ((PAD, HEIGHT - PAD), (WIDTH / 2, HEIGHT / 2), (WIDTH - PAD, PAD))


def test_charts_follow_the_vital_signs_order_and_keep_the_newest_points():
    many = [obs("8310-5", i, 36 + i / 10) for i in range(20)] + [obs("8867-4", 0, 70)]
    pulse, temperature = charts(many, keep=5)
    assert (pulse.code, temperature.code) == ("8867-4", "8310-5")
    assert len(temperature.points) == 5 and temperature.latest == 37.9
    assert pulse.svg == ((WIDTH / 2, HEIGHT / 2),)
    assert pulse.name("en") == "Pulse" and pulse.name("nb") == "Puls"


def test_a_vital_signs_form_becomes_observations_and_names_what_is_not_a_number():
    wanted, unreadable = visit.vital_signs({"pulse": " 84 ", "systolic": "132",
                                            "diastolic": "", "temperature": "37,2x"})
    assert wanted == [{"code": "8867-4", "value": 84.0}, {"code": "8480-6", "value": 132.0}]
    assert unreadable == ["temperature"]
    assert visit.vital_signs({"temperature": "37,2"})[0] == [{"code": "8310-5", "value": 37.2}]
    assert visit.if_match(' W/"7" ') == {"If-Match": 'W/"7"'} and visit.if_match("") == {}


def test_a_refusal_reads_as_the_service_wrote_it():
    outcome = {"resourceType": "OperationOutcome", "issue": [
        {"code": "invalid", "diagnostics": "Heart rate 400 /min is outside the plausible "
                                           "range 20-300."}]}
    assert visit.problems(outcome) == ["Heart rate 400 /min is outside the plausible range "
                                       "20-300."]
    assert visit.problems(None) == ["?"]


def test_what_changed_after_the_version_or_the_time_the_nurse_saw():
    entries = [{"at": "2026-03-10T10:05:00+00:00", "what": "Note signed", "by": "1234560",
                "version": 9},
               {"at": "2026-03-10T10:00:00+00:00", "what": "Task completed", "by": "9144889",
                "version": 8},
               {"at": "2026-03-10T09:00:00+00:00", "what": "Note drafted", "version": 7}]
    assert [c["what"] for c in visit.journal_changes(entries, 'W/"7"')] == [
        "Task completed", "Note signed"]
    changes = [{"at": "2026-03-10T10:00:00+00:00", "action": "discontinued", "drug": "Marevan",
                "reason": "blødning", "by": {"id": "7123456", "name": "Lege"}},
               {"at": "2026-03-10T08:00:00+00:00", "action": "prescribed", "drug": "Paracet",
                "by": {"id": "7123456"}}]
    [change] = visit.medication_changes(changes, "2026-03-10T09:00:00+00:00")
    assert change == {"at": "2026-03-10T10:00:00+00:00", "what": "discontinued Marevan blødning",
                      "by": "Lege"}
