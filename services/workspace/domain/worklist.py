"""The day's round from the journal's worklist (``GET /worklist``): one visit per patient and
due time, in time order, with the address, the tasks, what is overdue and what was added since
the morning shift began."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")
SHIFT_STARTS = time(7, 0)   # the morning shift: a task made after this is "new since morning"


@dataclass
class Visit:
    patient_id: str
    name: str
    address: str
    due_at: datetime
    overdue: bool = False
    new: bool = False
    tasks: list[dict[str, Any]] = field(default_factory=list)


def address_line(address: Mapping[str, Any] | None) -> str:
    if not address:
        return ""
    lines = ", ".join(address.get("lines") or ())
    town = " ".join(p for p in (address.get("postal_code"), address.get("city")) if p)
    return ", ".join(p for p in (lines, town) if p)


def morning(day: date) -> datetime:
    return datetime.combine(day, SHIFT_STARTS, OSLO)


def round_of(tasks: Iterable[Mapping[str, Any]], now: datetime, day: date) -> list[Visit]:
    """The visits of the day: a patient's tasks due at the same time are one visit; visits in
    due order (overdue first, being earliest), each flagged overdue when a task is, and new
    when a task was made after the morning shift began."""
    since = morning(day)
    visits: dict[tuple[str, datetime], Visit] = {}
    for task in tasks:
        due = datetime.fromisoformat(task["due_at"])
        patient = task.get("patient") or {}
        key = (task["patient_id"], due)
        visit = visits.get(key)
        if visit is None:
            visit = visits[key] = Visit(task["patient_id"], patient.get("name") or "",
                                        address_line(patient.get("address")), due)
        overdue = due < now
        new = datetime.fromisoformat(task["created_at"]) >= since
        visit.tasks.append({"task_id": task["task_id"], "title": task["title"],
                            "kind": task["kind"], "overdue": overdue, "new": new})
        visit.overdue |= overdue
        visit.new |= new
    return sorted(visits.values(), key=lambda v: (v.due_at, v.name))
