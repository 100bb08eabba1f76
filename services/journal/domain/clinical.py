"""The clinical record, decided against ``patients.Patient`` (DOMAIN.md §3, §11 req. 23-24).
Every decision takes ``by: Clinician`` (HPR number, unit, physician or not) from the HTTP layer.

Entries are immutable; a correction is a new version with a mandatory reason, and read models
keep every version (the original first). A note draft is edited by re-drafting (``draft_note``
with its ``note_id``, author only: drafts are not journal entries); a signed note (signed by its
author or a physician, else Forbidden) changes only by ``correct_note``. Observations use
LOINC codes from ``VITALS`` with a fixed UCUM unit and a plausible range [inference: wide bounds
against typing errors, not clinical limits]. Conditions are ICPC-2 or ICD-10. Critical
information (CAVE, Kjernejournal): registered -> verified (physician only, else Forbidden);
registered | verified -> refuted (avkreftet); any but removed -> removed (slettet); the rest is a
Conflict. New entries need a living patient; after death drafts can be signed and notes and
observations corrected.

Observations are a series without bound (home monitoring sends several a day), so the patient's
state does not hold them: a correction is decided on the one observation, folded from its own
events (``clinical_state.fold_observation``), which the caller loads from the stream.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID, uuid4

from pydantic import Field

from libs.events.registry import EventPayload
from libs.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from libs.kernel.time import Day, Instant, clinical_day, clinical_time, local_day
from services.journal import contract as ev
from services.journal.contract import CriticalCategory, NoteKind, Severity
from services.journal.domain.base import (
    Clinician, Command, require_alive, require_reason, require_registered, signature,
)
from services.journal.domain.clinical_state import (
    CATEGORY_NO, VITALS, Condition, CriticalInfo, Note, Observation, entry,
)
from services.journal.domain.codes import CodeError, validate_diagnosis

if TYPE_CHECKING:
    from services.journal.domain.patients import Patient

_FROM: dict[str, tuple[str, ...]] = {"verified": ("registered",),
                                     "refuted": ("registered", "verified"),
                                     "removed": ("registered", "verified", "refuted")}
OptionalReason = Field(default=None, max_length=2000)


# --- commands --------------------------------------------------------------------------------

class DraftNote(Command):
    kind: NoteKind
    text: str = Field(max_length=20000)
    episode_id: UUID | None = None
    note_id: UUID | None = Field(default=None, description="set to re-draft an existing draft")


class SignNote(Command):
    note_id: UUID


class CorrectNote(Command):
    note_id: UUID
    text: str = Field(max_length=20000)
    reason: str | None = OptionalReason


class RecordObservation(Command):
    code: str = Field(max_length=20, description="LOINC code from VITALS")
    value: float
    ucum: str | None = Field(default=None, max_length=20, description="must be the code's unit")
    effective_at: Instant | None = None


class CorrectObservation(Command):
    observation_id: UUID
    value: float
    reason: str | None = OptionalReason


class ObservationInError(Command):
    observation_id: UUID
    reason: str | None = OptionalReason


class RecordCondition(Command):
    system: str = Field(max_length=60, description="ICPC-2 or ICD-10")
    code: str = Field(max_length=20)
    onset: Day | None = None
    note: str | None = OptionalReason


class ResolveCondition(Command):
    condition_id: UUID
    resolved_on: Day | None = None
    reason: str | None = OptionalReason


class RegisterCriticalInfo(Command):
    category: CriticalCategory
    substance: str | None = Field(default=None, max_length=200)
    text: str | None = Field(default=None, max_length=2000)
    reaction: str | None = Field(default=None, max_length=2000)
    severity: Severity | None = None


class ChangeCriticalInfo(Command):
    """Verify (no reason needed), refute or remove (a reason is required)."""

    critical_id: UUID
    to: Literal["verified", "refuted", "removed"]
    reason: str | None = OptionalReason



def _text(text: str) -> str:
    if not text.strip():
        raise Invalid("text: a note needs text.")
    return text


def _find(items: tuple, attr: str, key: UUID, what: str):
    found = entry(items, attr, key)
    if found is None:
        raise NotFound(f"No such {what} for this patient.")
    return found


def _value(code: str, value: float) -> float:
    if code not in VITALS:   # a result (results.py): no plausibility rule of ours
        return value
    name, ucum, low, high = VITALS[code]
    if not low <= value <= high:
        raise Invalid(f"{name} {value:g} {ucum} is outside the plausible range {low:g}-{high:g}.")
    return value


# --- decisions -------------------------------------------------------------------------------

def draft_note(p: Patient, c: DraftNote, by: Clinician, now: datetime) -> list[EventPayload]:
    require_alive(p)
    who = signature(by)
    if c.episode_id is not None:
        _find(p.episodes, "episode_id", c.episode_id, "episode")
    if c.note_id is not None:
        n: Note = _find(p.notes, "note_id", c.note_id, "note")
        if n.status == "signed":
            raise Conflict("A signed note is immutable: correct it instead of re-drafting.")
        if n.versions[0].by != by.hpr:
            raise Forbidden("Only the author edits a draft.")
    return [ev.NoteDrafted(note_id=c.note_id or uuid4(), kind=c.kind, text=_text(c.text),
                           author=who["by"], unit=who["unit"], episode_id=c.episode_id,
                           drafted_at=now)]


def sign_note(p: Patient, c: SignNote, by: Clinician, now: datetime) -> list[EventPayload]:
    require_registered(p)  # also after death: open drafts are signed
    n: Note = _find(p.notes, "note_id", c.note_id, "note")
    if n.status == "signed":
        raise Conflict("The note is already signed; a signed note is immutable.")
    if n.versions[0].by != by.hpr and not by.physician:
        raise Forbidden("A note is signed by its author or a physician.")
    return [ev.NoteSigned(note_id=n.note_id, signed_by=signature(by)["by"], signed_at=now)]


def correct_note(p: Patient, c: CorrectNote, by: Clinician, now: datetime) -> list[EventPayload]:
    require_registered(p)  # also after death: the record stays correctable
    n: Note = _find(p.notes, "note_id", c.note_id, "note")
    if n.status == "draft":
        raise Conflict("A draft is not corrected: edit it by re-drafting, then sign it.")
    reason, who = require_reason(c.reason, "A correction"), signature(by)
    if c.text == n.text:
        raise Invalid("The correction does not change the text.")
    return [ev.NoteCorrected(note_id=n.note_id, replaces_version=len(n.versions),
                             text=_text(c.text), reason=reason, author=who["by"],
                             unit=who["unit"], corrected_at=now)]


def record_observation(p: Patient, c: RecordObservation, by: Clinician,
                       now: datetime) -> list[EventPayload]:
    require_alive(p)
    if c.code not in VITALS:
        raise Invalid(f"code {c.code!r} is not an allowed LOINC code; expected one of "
                      f"{', '.join(VITALS)}.")
    ucum = VITALS[c.code][1]
    if c.ucum is not None and c.ucum != ucum:
        raise Invalid(f"LOINC {c.code} is recorded in {ucum!r}, not {c.ucum!r}.")
    who = signature(by)
    at = (clinical_time("effective_at", c.effective_at, now, p.birth_date)
          if c.effective_at is not None else now)
    return [ev.ObservationRecorded(observation_id=uuid4(), code=c.code,
                                   value=_value(c.code, c.value), ucum=ucum, effective_at=at,
                                   performer=who["by"], unit=who["unit"], recorded_at=now)]


def _open_observation(p: Patient, o: Observation | None, observation_id: UUID) -> Observation:
    require_registered(p)  # also after death: the record stays correctable
    if o is None or o.observation_id != observation_id:
        raise NotFound("No such observation for this patient.")
    if o.status == "entered_in_error":
        raise Conflict("The observation is already marked as entered in error.")
    return o


def correct_observation(p: Patient, o: Observation | None, c: CorrectObservation,
                        by: Clinician, now: datetime) -> list[EventPayload]:
    """``o`` is the observation as its own events fold it (``clinical_state.fold_observation``;
    the patient's state holds no observations), ``None`` when the patient has none by that id."""
    o = _open_observation(p, o, c.observation_id)
    if o.value is None:
        raise Invalid("A coded or component result is not corrected by a number: mark it "
                      "entered in error and record it anew.")
    reason, who = require_reason(c.reason, "A correction"), signature(by)
    return [ev.ObservationCorrected(observation_id=o.observation_id,
                                    value=_value(o.code, c.value), reason=reason,
                                    corrected_at=now, **who)]


def mark_observation_in_error(p: Patient, o: Observation | None, c: ObservationInError,
                              by: Clinician, now: datetime) -> list[EventPayload]:
    o = _open_observation(p, o, c.observation_id)
    reason = require_reason(c.reason, "Marking an observation as entered in error")
    who = signature(by)
    return [ev.ObservationEnteredInError(observation_id=o.observation_id, reason=reason,
                                         marked_at=now, **who)]


def record_condition(p: Patient, c: RecordCondition, by: Clinician,
                     now: datetime) -> list[EventPayload]:
    require_alive(p)
    try:
        code = validate_diagnosis(c.system, c.code)
    except CodeError as exc:
        raise Invalid(str(exc)) from None
    if c.onset is not None:
        clinical_day("onset", c.onset, now, p.birth_date)
    if any(x.system == code.system.name and x.code == code.code and x.resolved_on is None
           for x in p.conditions):
        raise Conflict(f"{code.system.name} {code.code} is already an active problem.")
    return [ev.ConditionRecorded(condition_id=uuid4(), system=code.system.name, code=code.code,
                                 display=code.text, onset=c.onset, note=c.note,
                                 recorded_at=now, **signature(by))]


def resolve_condition(p: Patient, c: ResolveCondition, by: Clinician,
                      now: datetime) -> list[EventPayload]:
    require_alive(p)
    x: Condition = _find(p.conditions, "condition_id", c.condition_id, "condition")
    if x.resolved_on is not None:
        raise Conflict(f"The condition was already resolved on {x.resolved_on.isoformat()}.")
    on = clinical_day("resolved_on", c.resolved_on or local_day(now), now, p.birth_date)
    if x.onset is not None and on < x.onset:
        raise Invalid("resolved_on must be between the onset and today")
    return [ev.ConditionResolved(condition_id=x.condition_id, resolved_on=on, reason=c.reason,
                                 recorded_at=now, **signature(by))]


def register_critical_info(p: Patient, c: RegisterCriticalInfo, by: Clinician,
                           now: datetime) -> list[EventPayload]:
    require_alive(p)
    if c.category in ("drug_reaction", "other_allergy") and not (c.substance or "").strip():
        raise Invalid(f"{CATEGORY_NO[c.category]}: name the substance.")
    if not (c.substance or c.text or "").strip():
        raise Invalid(f"{CATEGORY_NO[c.category]}: give a substance or a text.")
    return [ev.CriticalInfoRegistered(
        critical_id=uuid4(), category=c.category, substance=c.substance, text=c.text,
        reaction=c.reaction, severity=c.severity, registered_at=now, **signature(by))]


def change_critical_info(p: Patient, c: ChangeCriticalInfo, by: Clinician,
                         now: datetime) -> list[EventPayload]:
    require_alive(p)
    x: CriticalInfo = _find(p.critical_info, "critical_id", c.critical_id,
                            "critical information")
    if x.status not in _FROM[c.to]:
        raise Conflict(f"Critical information that is {x.status} cannot be {c.to}.")
    who = signature(by)
    if c.to == "verified":
        if not by.physician:
            raise Forbidden("Critical information is verified by a physician.")
        return [ev.CriticalInfoVerified(critical_id=x.critical_id, verified_at=now, **who)]
    reason = require_reason(c.reason, f"Critical information {c.to}")
    if c.to == "refuted":
        return [ev.CriticalInfoRefuted(critical_id=x.critical_id, reason=reason,
                                       refuted_at=now, **who)]
    return [ev.CriticalInfoRemoved(critical_id=x.critical_id, reason=reason, removed_at=now,
                                   **who)]
