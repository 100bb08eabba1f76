"""What the journal's API returns: plain JSON views of a patient's record (pure functions).

Every view takes the access decision's ``hidden`` set: an entry whose id (or whose section) is
in it is replaced by a marker that says something is withheld, never what (DOMAIN.md §4,
requirement 18).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from libs.kernel.time import local_day
from libs.kernel.views import ByIdentity
from libs.events.envelope import Envelope
from services.journal.domain import clinical_state as clinical
from services.journal.domain.patients import Patient

NEWEST_NOTES = 5
SECTIONS = frozenset({"notes", "observations", "conditions", "critical_info", "care_plans",
                      "tasks", "episodes", "services", "timeline", "messages"})
"""The journal's information categories (what a restriction or a limited proxy names)."""


def hidden_for(hidden: Collection[str], categories: Collection[str] | None) -> frozenset[str]:
    """What a decision withholds: its hidden entries and sections, plus every section outside
    the categories it allows (a limited proxy, such as a parent of a 12–16-year-old)."""
    if categories is None:
        return frozenset(hidden)
    return frozenset(hidden) | (SECTIONS - set(categories))


def withheld(entry_id: str, section: str) -> dict[str, Any]:
    return {"id": entry_id, "section": section, "withheld": True,
            "message": "Noe er skjermet her. Some information here is withheld."}


def _visible(items: Iterable[tuple[Any, dict]], section: str,
             hidden: Collection[str]) -> list[dict]:
    """The views of ``(id, view)`` items, each withheld whose id (as text) is hidden; the ids
    are made text only when something is (a UUID's ``str`` was ~4 % of an overview's CPU)."""
    if section in hidden:
        return [withheld(str(i), section) for i, _ in items]
    if not hidden:
        return [doc for _, doc in items]
    return [withheld(str(i), section) if str(i) in hidden else doc for i, doc in items]


def identity(p: Patient) -> dict[str, Any]:
    return {"patient_id": str(p.patient_id), "national_id": p.national_id,
            "id_type": p.id_type.value if p.id_type else None,
            "name": p.name.model_dump() if p.name else None,
            "birth_date": p.birth_date.isoformat() if p.birth_date else None,
            "sex": p.sex, "address": p.address.model_dump(mode="json") if p.address else None,
            "regular_gp": p.regular_gp,
            "deceased_on": p.deceased_on.isoformat() if p.deceased_on else None}


def _note_view(n: clinical.Note) -> dict[str, Any]:
    """A note with every version: the original first, then each correction and its reason."""
    return {"note_id": str(n.note_id), "kind": n.kind, "status": n.status,
            "episode_id": str(n.episode_id) if n.episode_id else None,
            "text": n.text, "signed_by": n.signed_by,
            "signed_at": n.signed_at.isoformat() if n.signed_at else None,
            "corrected": len(n.versions) > 1,
            "versions": [v.model_dump(mode="json", exclude={"value"}) for v in n.versions]}


def _observation_view(o: clinical.Observation) -> dict[str, Any]:
    display, *_ = clinical.VITALS.get(o.code, (o.code,))
    return {"observation_id": str(o.observation_id), "code": o.code, "display": display,
            "value": o.value, "unit": o.ucum, "effective_at": o.effective_at.isoformat(),
            "status": o.status,
            "versions": [v.model_dump(mode="json", exclude={"text"}) for v in o.versions]}


note_view = ByIdentity(_note_view)
observation_view = ByIdentity(_observation_view)
_entity = ByIdentity(lambda item: item.model_dump(mode="json"))


def notes(p: Patient, hidden: Collection[str], kind: str | None = None,
          include_drafts_of: str | None = None, limit: int | None = None) -> list[dict]:
    """Signed notes (and the caller's own drafts), newest first; optionally of one kind, and
    only the newest ``limit``."""
    chosen = [n for n in p.notes
              if (kind is None or n.kind == kind)
              and (n.status == "signed" or n.versions[0].by == include_drafts_of)]
    chosen.sort(key=lambda n: n.signed_at or n.versions[-1].at, reverse=True)
    chosen = chosen[:limit]   # before the views are built: the overview shows five
    return _visible(((n.note_id, note_view(n)) for n in chosen), "notes", hidden)


def overview(p: Patient, observations: Iterable[clinical.Observation], now: datetime,
             hidden: Collection[str], viewer_hpr: str | None = None) -> dict[str, Any]:
    """Active episodes and decisions, CAVE, latest vital signs (of ``observations``: those
    the read model found, or every one at an ``as_of``), open tasks, newest notes."""
    today = local_day(now)
    decisions = [d for d in p.decisions
                 if d.status == "applied"
                 or (d.status == "granted" and (d.to_date is None or d.to_date >= today))]
    critical = [c for c in p.critical_info if c.status in ("registered", "verified")]
    tasks = [t for t in p.tasks if t.status == "requested"]
    plans = [c for c in p.care_plans if c.status == "active"]
    return {
        "patient": identity(p),
        "episodes": _visible(((e.episode_id, _entity(e)) for e in p.episodes
                              if e.ended_at is None), "episodes", hidden),
        "service_decisions": _visible(((d.decision_id, _entity(d)) for d in decisions),
                                      "services", hidden),
        "critical_info": _visible(((c.critical_id, _entity(c)) for c in critical),
                                  "critical_info", hidden),
        "conditions": _visible(((c.condition_id, _entity(c)) for c in p.conditions
                                if c.resolved_on is None), "conditions", hidden),
        "latest_vital_signs": _visible(
            ((o.observation_id, observation_view(o))
             for o in clinical.latest_observations(observations).values()), "observations",
            hidden),
        "open_tasks": _visible(((t.task_id, _entity(t))
                                for t in sorted(tasks, key=lambda t: t.due_at)), "tasks", hidden),
        "care_plans": _visible(((c.care_plan_id, _entity(c)) for c in plans),
                               "care_plans", hidden),
        "newest_notes": notes(p, hidden, include_drafts_of=viewer_hpr, limit=NEWEST_NOTES),
    }


_WORDS = re.compile(r"(?<!^)(?=[A-Z])")


def timeline(envelopes: Iterable[Envelope], hidden: Collection[str]) -> list[dict]:
    """Every change to the record, newest first: what, when, by whom, and the entry it is
    about. Corrections appear next to what they correct, so both stay visible."""
    if "timeline" in hidden:
        return [withheld("timeline", "timeline")]
    out = []
    for env in envelopes:
        name = env.type.split(".", 1)[-1]
        data = {k: v for k, v in env.data.items() if k != "national_id"}
        entry = next((str(v) for k, v in data.items() if k.endswith("_id")), None)
        item = {"at": env.recorded_at.isoformat(), "event": name,
                "what": _WORDS.sub(" ", name).lower().capitalize(),
                "by": env.actor.id, "unit": env.actor.unit, "entry_id": entry,
                "version": env.stream_version, "data": data}
        if entry is not None and entry in hidden:
            item = withheld(entry, "timeline") | {"at": item["at"], "version": item["version"]}
        out.append(item)
    out.reverse()
    return out
