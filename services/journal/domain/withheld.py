"""Entries withheld from the patient (pasient- og brukerrettighetsloven § 5-1 second paragraph).

The responsible clinician may decide, with a documented reason, that the patient is not shown an
entry: a note, an observation, a condition or critical information. The entry stays in the
record for health personnel; every read the journal answers for a citizen (their own record, or
a parent's or a mandate holder's) leaves it out entirely (``for_patient``: no marker, since even
"something is withheld" would tell). Lifting the decision (with a reason) shows it again.

Rules: the entry must exist in its section (NotFound otherwise, also for an id of another
patient); withholding what is already withheld, or lifting what is not, is a Conflict. An
observation is folded on its own (``clinical_state``), so the caller passes it in.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from pydantic import Field

from libs.events.registry import EventPayload
from libs.kernel.errors import Conflict, NotFound
from services.journal import contract as ev
from services.journal.contract import WithholdableSection
from services.journal.domain.base import (
    Clinician, Command, Frozen, require_reason, require_registered, signature,
)
from services.journal.domain.clinical_state import Observation

if TYPE_CHECKING:
    from services.journal.domain.patients import Patient

_IDS = {"notes": "note_id", "conditions": "condition_id", "critical_info": "critical_id"}


class Withholding(Frozen):
    entry_id: UUID
    section: WithholdableSection
    reason: str
    by: str
    at: datetime


class WithholdFromPatient(Command):
    entry_id: UUID
    section: WithholdableSection
    reason: str | None = Field(default=None, max_length=2000,
                               description="required: why showing it would do harm (§ 5-1)")


class LiftWithholding(Command):
    entry_id: UUID
    reason: str | None = Field(default=None, max_length=2000)


def withheld_ids(p: Patient) -> frozenset[UUID]:
    return frozenset(w.entry_id for w in p.withheld_from_patient)


def _exists(p: Patient, section: str, entry_id: UUID, observation: Observation | None) -> bool:
    if section == "observations":
        return observation is not None and observation.observation_id == entry_id
    return any(getattr(x, _IDS[section]) == entry_id for x in getattr(p, section))


def withhold(p: Patient, c: WithholdFromPatient, by: Clinician, now: datetime,
             observation: Observation | None = None) -> list[EventPayload]:
    """``observation`` is the entry when ``c.section`` is observations (folded by the caller)."""
    require_registered(p)
    if not _exists(p, c.section, c.entry_id, observation):
        raise NotFound("No such entry in that part of this patient's record.")
    if c.entry_id in withheld_ids(p):
        raise Conflict("The entry is already withheld from the patient.")
    reason = require_reason(c.reason, "Withholding information from the patient (§ 5-1)")
    return [ev.EntryWithheldFromPatient(entry_id=c.entry_id, section=c.section, reason=reason,
                                        withheld_at=now, **signature(by))]


def lift(p: Patient, c: LiftWithholding, by: Clinician, now: datetime) -> list[EventPayload]:
    require_registered(p)
    if c.entry_id not in withheld_ids(p):
        raise Conflict("The entry is not withheld from the patient.")
    reason = require_reason(c.reason, "Lifting a decision to withhold information")
    return [ev.EntryWithholdingLifted(entry_id=c.entry_id, reason=reason, lifted_at=now,
                                      **signature(by))]


def section_of(p: Patient, entry_id: UUID) -> str | None:
    return next((w.section for w in p.withheld_from_patient if w.entry_id == entry_id), None)


def evolve(p: Patient, e: EventPayload) -> Patient:
    match e:
        case ev.EntryWithheldFromPatient():
            w = Withholding(entry_id=e.entry_id, section=e.section, reason=e.reason, by=e.by,
                            at=e.withheld_at)
            return p.model_copy(update={"withheld_from_patient": (*p.withheld_from_patient, w)})
        case ev.EntryWithholdingLifted():
            return p.model_copy(update={"withheld_from_patient": tuple(
                w for w in p.withheld_from_patient if w.entry_id != e.entry_id)})
    return p


def for_patient(p: Patient) -> Patient:
    """The record as the patient (or their proxy) may be shown it: withheld entries gone."""
    ids = withheld_ids(p)
    if not ids:
        return p
    return p.model_copy(update={section: tuple(x for x in getattr(p, section)
                                               if getattr(x, attr) not in ids)
                                for section, attr in _IDS.items()})


def visible_observations(observations: Collection[Observation],
                         p: Patient) -> list[Observation]:
    ids = withheld_ids(p)
    return [o for o in observations if o.observation_id not in ids]
