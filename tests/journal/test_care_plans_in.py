"""Care plans and goals made in another record, pure: the domain's rules for recording them
(``recorded_plans.py``), how an incoming CarePlan and Goal are mapped (``care_plans_in.py``),
the ordinary process commands on a recorded plan, and the import summary's account."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta

from services.journal import contract as ev
from services.journal.domain import clinical as c
from services.journal.domain import process as pr
from services.journal.domain import recorded_plans as rp
from services.journal.fhir import to_fhir as fhir
from services.journal.fhir.care_plans_in import GOAL_NOT_IN_PLAN
from services.journal.fhir.from_fhir import map_bundle
from services.journal.fhir.import_summary import by_type, not_reached
from services.journal.fhir.plan import NOT_JOURNAL
from services.journal.fhir.synthea import SyntheaPolicy
from tests.journal.support import NOW, TODAY, registered, then
from tests.journal.test_care_plans_fhir import SCT, care_plan, condition, goal
from tests.journal.test_domain_process import NURSE, P, died, says

PLAN, GOAL, ACT = (uuid.UUID(f"0190f0a0-0000-7000-8000-0000000000{n}") for n in ("a1", "a2",
                                                                                   "a3"))
LOW_SALT = ev.Coded(system=SCT, code="183063000", display="low salt diet education")


def with_condition():
    p = registered(P)
    [cond] = c.record_condition(p, c.RecordCondition(system="ICPC-2", code="K77"), NURSE, NOW)
    return then(p, [cond]), cond.condition_id


def recorded(p, **kw) -> rp.RecordCarePlan:
    return rp.RecordCarePlan(**{"care_plan_id": PLAN, "title": "Hjertesvikt",
                                "period_start": TODAY - timedelta(days=30)} | kw)


def test_a_recorded_plan_keeps_its_codes_and_then_takes_the_ordinary_commands():
    p, cond = with_condition()
    p = then(p, rp.record_care_plan(p, recorded(p, intent="order", addresses=(cond,), activities=(
        ev.RecordedActivity(intervention_id=ACT, code=(LOW_SALT,), description="Saltfattig kost",
                            status="completed"),)), NURSE, NOW))
    p = then(p, rp.record_goal(p, rp.RecordGoal(
        care_plan_id=PLAN, goal_id=GOAL, description="Bedre systolisk funksjon",
        lifecycle="accepted", achievement="in-progress", addresses=(cond,)), NURSE, NOW))
    [plan] = p.care_plans
    assert (plan.intent, plan.addresses, plan.interventions[0].code) == ("order", (cond,),
                                                                         (LOW_SALT,))
    assert says(409, pr.stop_intervention, p, pr.StopIntervention(
        care_plan_id=PLAN, intervention_id=ACT, reason="ferdig"), NURSE, NOW).startswith(
        "The intervention is already completed")
    assert fhir.resource(p, "Goal", GOAL)["lifecycleStatus"] == "accepted"
    p = then(p, pr.change_goal_status(p, pr.ChangeGoalStatus(
        care_plan_id=PLAN, goal_id=GOAL, status="achieved"), NURSE, NOW))
    res = fhir.resource(p, "Goal", GOAL)
    assert (res["lifecycleStatus"], res["achievementStatus"]["coding"][0]["code"]) == (
        "completed", "achieved")
    assert fhir.resource(p, "CarePlan", PLAN)["goal"] == [{"reference": f"Goal/{GOAL}"}]


def test_recording_refuses_what_the_record_cannot_hold():
    p, cond = with_condition()
    assert "condition" in says(404, rp.record_care_plan, p, recorded(p, addresses=(uuid.uuid4(),)),
                               NURSE, NOW)
    assert "contact" in says(404, rp.record_care_plan, p, recorded(p, encounter_id=uuid.uuid4()),
                             NURSE, NOW)
    assert "future" in says(422, rp.record_care_plan, p, recorded(
        p, period_start=TODAY + timedelta(days=1)), NURSE, NOW)
    assert "before" in says(422, rp.record_care_plan, p, recorded(
        p, period_end=TODAY - timedelta(days=60)), NURSE, NOW)
    assert "died on" in says(409, rp.record_care_plan, died(p), recorded(p), NURSE, NOW)
    held = then(p, rp.record_care_plan(p, recorded(p), NURSE, NOW))
    assert "already" in says(409, rp.record_care_plan, held, recorded(p), NURSE, NOW)
    assert "No such care plan" in says(404, rp.record_goal, p, rp.RecordGoal(
        care_plan_id=PLAN, goal_id=GOAL, description="x"), NURSE, NOW)


def _bundle(*resources: tuple[str, dict]) -> dict:
    patient = {"resourceType": "Patient", "id": "p", "birthDate": "1950-06-01",
               "name": [{"given": ["Solveig"], "family": "Wolf"}]}
    return {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:p", "resource": patient}, *(
            {"fullUrl": f"urn:uuid:{rid}", "resource": r | {"id": rid}} for rid, r in resources)]}


def test_goals_go_into_the_plan_that_names_them_and_the_rest_is_accounted_for():
    s = "urn:uuid:p"
    shared = care_plan(s, ("urn:uuid:g1",), ("urn:uuid:c", "urn:uuid:gone"))
    shared["activity"] += [{"reference": {"reference": "ServiceRequest/x"}},
                           {"detail": {"status": "scheduled", "description": "senere"}}]
    plan = map_bundle(_bundle(
        ("g1", goal(s, "urn:uuid:c")), ("g2", goal(s)), ("c", condition(s)),
        ("cp1", shared), ("cp2", care_plan(s, ("urn:uuid:g1",), ())),
        ("cp3", care_plan(s, (), (), status="draft")),
        ("cp4", care_plan(s, (), ()) | {"period": {"start": str(TODAY + timedelta(days=30))}})),
        SyntheaPolicy(NOW))
    kinds = [e.kind for e in plan.entries]
    assert kinds == ["coded_condition", "care_plan", "goal", "care_plan"]
    condition_id, first, the_goal, second = plan.entries
    assert first.command.title == "Heart failure self management plan"   # the category's
    assert first.command.addresses == (condition_id.entity_id,)
    assert the_goal.command.care_plan_id == first.entity_id   # the first plan that names it
    assert the_goal.command.addresses == (condition_id.entity_id,)
    assert [a.code[0].code for a in first.command.activities] == ["183063000", "183301007"]
    assert plan.skipped == Counter({
        GOAL_NOT_IN_PLAN: 1, "CarePlan: status 'draft' is not a plan in force or carried out": 1,
        "CarePlan: dated in the future": 1})
    assert plan.replaced["CarePlan.addresses: a resource not imported, left out"] == 1
    assert plan.replaced["CarePlan.activity: a reference without detail, left out"] == 1
    assert plan.replaced["CarePlan.activity: status 'scheduled' not kept, left out"] == 1


def test_the_summary_counts_care_plans_kept_and_explains_what_is_not_the_municipal_record():
    rows = {r.rtype: r for r in by_type(
        Counter({"CarePlan": 2, "Goal": 1, "ImagingStudy": 4, "SupplyDelivery": 1}),
        ["CarePlan/a", "CarePlan/b", "Goal/g"],
        Counter({NOT_JOURNAL["ImagingStudy"]: 4, NOT_JOURNAL["SupplyDelivery"]: 1}))}
    assert (rows["CarePlan"].missing, rows["Goal"].missing) == (0, 0)
    assert {r.rtype for r in not_reached(rows.values())} == {"ImagingStudy", "SupplyDelivery"}
    for rtype in ("ImagingStudy", "SupplyDelivery", "Device", "CareTeam"):
        assert NOT_JOURNAL[rtype].startswith(f"{rtype}: not the municipal record's ("), rtype
    assert rows["ImagingStudy"].why == ((NOT_JOURNAL["ImagingStudy"], 4),)
