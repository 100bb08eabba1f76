"""Incoming CarePlans and Goals -> journal commands (``from_fhir.map_bundle`` calls these).
Pure: no I/O, no clock.

- A CarePlan that is active or completed -> ``RecordCarePlan``: intent, categories (every
  coding), period (days), its activities with every coding of their code (SNOMED CT, ...) and
  their status (in progress -> active, completed, stopped or cancelled -> stopped), the
  Conditions it ``addresses`` and the Encounter it was made in, both resolved to the ids the
  bundle's own resources get (``resolve_care_plans``; one not imported is left out and counted).
  Its title is ``title``, else its first category's text. A draft, on-hold, revoked or unknown
  plan is not kept, nor one that begins in the future.
- A Goal -> ``RecordGoal`` in the care plan that names it in ``CarePlan.goal`` (the journal
  keeps a goal in its care plan; a Goal no kept plan names is skipped with that reason):
  lifecycle and achievement status as given, description (text and codings), the first
  target's due date, the Conditions it addresses. Rejected and entered-in-error goals are not
  kept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, time
from typing import Any, get_args
from uuid import UUID

from libs.kernel.time import OSLO, local_day
from services.journal.contract import GoalLifecycle, PlanIntent, RecordedActivity
from services.journal.domain.recorded_plans import RecordCarePlan, RecordGoal
from services.journal.fhir.observations_in import coded, concept_text
from services.journal.fhir.plan import Entry, IdPolicy, Plan, Resource, Unmappable

ACTIVITY_STATUS = {"in-progress": "active", "completed": "completed", "stopped": "stopped",
                   "cancelled": "stopped"}
NO_PLAN = UUID(int=0)   # a goal's care plan until ``resolve_care_plans`` finds it
GOAL_NOT_IN_PLAN = ("Goal: no kept care plan of the bundle names it (the journal keeps a goal "
                    "in its care plan)")
Day = Callable[[Any], date | None]


def _refs(values: Any) -> tuple[str, ...]:
    return tuple(r["reference"] for r in values or [] if isinstance(r, dict)
                 and isinstance(r.get("reference"), str))[:50]


def _first_text(concepts: Any) -> str | None:
    for x in concepts or []:
        text = concept_text(x) or next((c.display for c in coded(x) if c.display), None)
        if text:
            return text
    return None


def _activity(res: Resource, n: int, a: Any, full_url: str | None,
              ids: IdPolicy) -> RecordedActivity | str:
    detail = a.get("detail") if isinstance(a, dict) else None
    if not isinstance(detail, dict):
        return "CarePlan.activity: a reference without detail, left out"
    status = ACTIVITY_STATUS.get(detail.get("status"))
    if status is None:
        return f"CarePlan.activity: status {str(detail.get('status'))[:20]!r} not kept, left out"
    description = (detail.get("description") if isinstance(detail.get("description"), str)
                   else None) or _first_text([detail.get("code")])
    if not description or not description.strip():
        return "CarePlan.activity: neither a description nor a coded text, left out"
    return RecordedActivity(intervention_id=ids.entity_id(res, f"activity-{n}", full_url),
                            code=coded(detail.get("code")), description=description[:2000],
                            status=status)


def care_plan(res: Resource, full_url: str | None, ids: IdPolicy, day: Day,
              skipped: Counter[str]) -> list[Entry]:
    status, intent = res.get("status"), res.get("intent")
    if status not in ("active", "completed"):
        raise Unmappable(f"CarePlan: status {str(status)[:20]!r} is not a plan in force or "
                         "carried out")
    if intent not in get_args(PlanIntent):
        raise Unmappable("CarePlan: no intent (proposal, plan, order or option)")
    period = res.get("period") or {}
    start, end = day(period.get("start")), day(period.get("end"))
    today = local_day(ids.now)
    if start is None:
        raise Unmappable("CarePlan: no period start (when the plan began)")
    if start > today or (status == "completed" and end is not None and end > today):
        raise Unmappable("CarePlan: dated in the future")
    if end is not None and end < start:
        raise Unmappable("CarePlan: ends before it begins")
    category = tuple(c for x in res.get("category") or [] for c in coded(x))[:10]
    title = (res.get("title") if isinstance(res.get("title"), str) else None) or _first_text(
        res.get("category")) or "Tiltaksplan"
    activities, left_out = [], []
    for n, a in enumerate((res.get("activity") or [])[:100]):
        found = _activity(res, n, a, full_url, ids)
        (left_out.append if isinstance(found, str) else activities.append)(found)
    cid = ids.entity_id(res, "", full_url)
    command = RecordCarePlan(care_plan_id=cid, title=title.strip()[:200], status=status,
                             intent=intent, category=category, period_start=start,
                             period_end=end, activities=tuple(activities))
    encounter = _refs([res.get("encounter")])
    refers = (*(f"C {r}" for r in _refs(res.get("addresses"))), *(f"E {r}" for r in encounter),
              *(f"G {r}" for r in _refs(res.get("goal"))))
    return [Entry("care_plan", command, ids.clinician(res), cid, ids.key(res, full_url),
                  datetime.combine(start, time(), OSLO), tuple(left_out), refers)]


def goal(res: Resource, full_url: str | None, ids: IdPolicy, day: Day,
         skipped: Counter[str]) -> list[Entry]:
    lifecycle = res.get("lifecycleStatus")
    if lifecycle in ("rejected", "entered-in-error"):
        raise Unmappable("Goal: rejected or entered in error")
    if lifecycle not in get_args(GoalLifecycle):
        raise Unmappable("Goal: no lifecycle status")
    description = _first_text([res.get("description")])
    if not description:
        raise Unmappable("Goal: no description (neither text nor a coding's display)")
    achievement = next((c.code for c in coded(res.get("achievementStatus"))), None)
    targets = [t for t in res.get("target") or [] if isinstance(t, dict)]
    due = next((d for t in targets if (d := day(t.get("dueDate"))) is not None), None)
    gid = ids.entity_id(res, "", full_url)
    command = RecordGoal(care_plan_id=NO_PLAN, goal_id=gid, description=description[:2000],
                         code=coded(res.get("description")), lifecycle=lifecycle,
                         achievement=achievement if achievement and len(achievement) <= 40
                         and achievement.replace("-", "").isalpha() else None,
                         target_date=due)
    return [Entry("goal", command, ids.clinician(res), gid, ids.key(res, full_url), ids.now,
                  refers=tuple(f"C {r}" for r in _refs(res.get("addresses"))))]


def mappers(day: Day) -> dict:
    """The mappers for ``from_fhir.map_bundle`` that read dates with ``day``."""
    return {"CarePlan": lambda r, u, i, s: care_plan(r, u, i, day, s),
            "Goal": lambda r, u, i, s: goal(r, u, i, day, s)}


def _bare(ref: str) -> str:
    """The id a reference or an entry's source names: ``Goal/<id>``, ``urn:uuid:<id>`` and
    ``Goal/urn:uuid:<id>`` (a transaction entry known by its fullUrl) name ``<id>``."""
    if ref[:1].isupper() and "/" in ref:
        ref = ref.split("/", 1)[1]
    return ref.removeprefix("urn:uuid:")


def resolve_care_plans(plan: Plan) -> None:
    """A care plan's conditions, contact and goals, and a goal's conditions: the ids the
    plan's own entries have (one not imported is left out and counted). Each goal is placed
    right after the first care plan that names it, and recorded when that plan is; a goal no
    kept plan names is skipped."""
    known: dict[tuple[str, str], Entry] = {}
    for e in plan.entries:
        kind = {"condition": "C", "coded_condition": "C", "encounter": "E",
                "goal": "G"}.get(e.kind)
        if kind is not None:
            known.setdefault((kind, _bare(e.source)), e)

    def found(e: Entry, kind: str, what: str) -> list[Entry]:
        refs = [r[2:] for r in e.refers if r[0] == kind]
        hits = [known.get((kind, _bare(r))) for r in refs]
        if None in hits:
            plan.replaced[f"{what}: a resource not imported, left out"] += hits.count(None)
        return [h for h in hits if h is not None]

    out: list[Entry] = []
    placed: set[UUID] = set()
    for e in plan.entries:
        if e.kind == "goal":
            continue
        if e.kind != "care_plan":
            out.append(e)
            continue
        conditions, contact = found(e, "C", "CarePlan.addresses"), found(e, "E",
                                                                         "CarePlan.encounter")
        at = max([e.at, *(x.at for x in conditions + contact)])
        out.append(replace(e, at=at, refers=(), command=e.command.model_copy(update={
            "addresses": tuple(x.entity_id for x in conditions),
            "encounter_id": contact[0].entity_id if contact else None})))
        for g in found(e, "G", "CarePlan.goal"):
            if g.entity_id in placed:
                continue
            placed.add(g.entity_id)
            addressed = found(g, "C", "Goal.addresses")
            out.append(replace(g, at=max([at, *(x.at for x in addressed)]), refers=(),
                               command=g.command.model_copy(update={
                                   "care_plan_id": e.entity_id,
                                   "addresses": tuple(x.entity_id for x in addressed)})))
    plan.skipped[GOAL_NOT_IN_PLAN] += sum(1 for e in plan.entries if e.kind == "goal"
                                          and e.entity_id not in placed)
    if not plan.skipped[GOAL_NOT_IN_PLAN]:
        del plan.skipped[GOAL_NOT_IN_PLAN]
    plan.entries = out
