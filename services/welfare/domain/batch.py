"""A batch of the alert rules' input decided at once (pure): the worker takes readings from
``welfare.events`` in batches and records a batch's outcome in one transaction
(``Intake.rule_batch``); this is the decision in the middle, from the windows as held to the
windows after and the events to append.

Each person's items are folded in the order they came (one person's events share a Kafka
partition, so a batch holds them in stream order): a reading through the rules without memory
(``rules.decide``) and the windows (``windows.step``), an inactivity limit into the windows
(``windows.limit_set``). A reading that is not ``fresh`` (decided before: its claim was
there already, or it came twice in the batch) changes nothing. A reading the rules cannot
decide (a defect or a malformed value) is left out, with the reason, for the dead-letter
topic: the person's windows stay as they were before it, and the rest of the batch goes on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from libs.events.registry import EventPayload
from services.welfare import contract as ev
from services.welfare.domain import rules, windows


@dataclass(frozen=True)
class Item:
    """One input of the rules: a reading made usable, or a person's inactivity limit."""

    patient_id: UUID
    reading: ev.AnyReading | None = None
    limit: ev.InactivityLimitSet | None = None

    @property
    def reading_id(self) -> UUID | None:
        return self.reading.reading_id if self.reading is not None else None


@dataclass(frozen=True)
class Decided:
    """A batch's outcome: every person's windows after it (as the table keeps them), the events
    per person in the order decided, and the items left undecided (index -> reason)."""

    windows: dict[UUID, dict] = field(default_factory=dict)
    outputs: dict[UUID, list[EventPayload]] = field(default_factory=dict)
    undecidable: dict[int, str] = field(default_factory=dict)


def fold(items: Sequence[Item], held: Mapping[UUID, dict | None], fresh: Sequence[bool],
         config: rules.RuleConfig, window_config: windows.WindowConfig,
         now: datetime) -> Decided:
    """Decide ``items`` against the windows ``held`` per person (``fresh[i]``: item ``i`` is a
    reading not decided before)."""
    states = {p: windows.State.of(held.get(p)) for p in {i.patient_id for i in items}}
    outputs: dict[UUID, list[EventPayload]] = {}
    undecidable: dict[int, str] = {}
    for n, item in enumerate(items):
        pid = item.patient_id
        if item.limit is not None:
            states[pid] = windows.limit_set(states[pid], item.limit)
            continue
        if item.reading is None or not fresh[n]:
            continue
        try:
            alerts = rules.decide(item.reading, config, now)
            states[pid], fired = windows.step(states[pid], pid, item.reading, window_config,
                                              config, now)
        except Exception as exc:  # noqa: BLE001  (one reading, not the batch)
            undecidable[n] = f"{type(exc).__name__}: {exc}"
            continue
        if alerts or fired:
            outputs.setdefault(pid, []).extend([*alerts, *fired])
    return Decided({p: s.model_dump(mode="json") for p, s in states.items()}, outputs,
                   undecidable)
