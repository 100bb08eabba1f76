"""Process support for the pure journal tests: a registered patient, care plans, goals,
interventions and tasks made through the domain's own commands (``test_domain_process*.py``)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from services.journal.domain import clinical as c
from services.journal import contract as ev
from services.journal.domain import patients as pt
from services.journal.domain import process as pr
from tests.journal.support import NOW, TODAY, registered, then
from tests.support.refusals import refused

P = uuid.UUID("0190f0a0-0000-7000-8000-00000000000e")
UNIT, OTHER_UNIT, BAD_ORG = "974600978", "123456785", "974600952"
NURSE = c.Clinician(hpr="9144889", unit=UNIT)
OTHER_NURSE = c.Clinician(hpr="1234567", unit=OTHER_UNIT)
DUE = NOW + timedelta(days=1)


def says(status: int, fn, *args) -> str:
    """Refused with ``status`` and a message a person can read: words, not a repr or a trace."""
    message = refused(status, fn, *args)
    assert re.fullmatch(r"[A-Za-z][^\n{}<>]*", message) and len(message.split()) >= 3, message
    assert "UUID(" not in message and "Traceback" not in message, message
    return message


def patient(*more: ev.EventPayload) -> pt.Patient:
    return registered(P, *more, given="Astrid")


def died(p: pt.Patient) -> pt.Patient:
    return then(p, pt.record_death(p, pt.RecordDeath(deceased_on=TODAY), NOW))


def with_plan(p: pt.Patient, **kw) -> tuple[pt.Patient, uuid.UUID]:
    [e] = pr.create_care_plan(p, pr.CreateCarePlan(**({"title": "Sårbehandling"} | kw)),
                              NURSE, NOW)
    return then(p, [e]), e.care_plan_id


def with_goal(p: pt.Patient, plan_id: uuid.UUID) -> tuple[pt.Patient, uuid.UUID]:
    [e] = pr.add_goal(p, pr.AddGoal(care_plan_id=plan_id, description="Leget sår"), NURSE, NOW)
    return then(p, [e]), e.goal_id


def with_intervention(p: pt.Patient, plan_id: uuid.UUID) -> tuple[pt.Patient, uuid.UUID]:
    [e] = pr.add_intervention(p, pr.AddIntervention(
        care_plan_id=plan_id, description="Sårstell", frequency="daily 08:00"), NURSE, NOW)
    return then(p, [e]), e.intervention_id


def with_task(p: pt.Patient, **kw) -> tuple[pt.Patient, uuid.UUID]:
    [e] = pr.create_task(p, task(**kw), NURSE, NOW)
    return then(p, [e]), e.task_id


def task(**kw) -> pr.CreateTask:
    return pr.CreateTask(**({"kind": "home_care_visit", "title": "Sårstell", "unit": UNIT,
                             "due_at": DUE} | kw))
