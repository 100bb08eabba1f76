"""The clinical record, decided against ``patients.Patient`` (DOMAIN.md §3, §11 req. 23-24).
Every decision takes ``by: Clinician`` (HPR number, unit, physician or not) from the API layer.

Entries are immutable; a correction is a new version with a mandatory reason, and read models
keep every version (the original first). A note draft is edited by re-drafting (``draft_note``
with its ``note_id``, author only: drafts are not journal entries); a signed note (signed by its
author or a physician, else 403) changes only by ``correct_note``. Observations use LOINC codes
from ``VITALS`` with a fixed UCUM unit and a plausible range [inference: wide bounds against
typing errors, not clinical limits]. Conditions are ICPC-2 or ICD-10. Critical information
(CAVE, Kjernejournal): registered -> verified (physician only, else 403); registered | verified
-> refuted (avkreftet); any but removed -> removed (slettet); the rest is 409. New entries need a
living patient; after death drafts can be signed and notes and observations corrected.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID, uuid4

from pydantic import AwareDatetime, Field

from libs.access.identifiers import InvalidIdentifier, validate_orgnr
from libs.access.policy import local_day
from libs.events.registry import EventPayload
from services.journal.codes import CodeError, validate_diagnosis
from services.journal.domain import (
    Command, Frozen, Refused, conflict, invalid, not_found, require_alive, require_registered,
)
from services.journal.domain import events as ev
from services.journal.domain.events import CriticalCategory, NoteKind, Severity

if TYPE_CHECKING:
    from services.journal.domain.patients import Patient

# code -> (display, UCUM unit, lowest, highest plausible value)
VITALS: dict[str, tuple[str, str, float, float]] = {
    "8867-4": ("Heart rate", "/min", 20, 300),
    "8480-6": ("Systolic blood pressure", "mm[Hg]", 40, 300),
    "8462-4": ("Diastolic blood pressure", "mm[Hg]", 20, 200),
    "8310-5": ("Body temperature", "Cel", 25, 45),
    "59408-5": ("Oxygen saturation by pulse oximetry", "%", 50, 100),
    "9279-1": ("Respiratory rate", "/min", 3, 80),
    "29463-7": ("Body weight", "kg", 0.3, 400),
}
CATEGORY_NO: dict[str, str] = {
    "drug_reaction": "legemiddelreaksjon", "other_allergy": "annen allergi",
    "anaesthesia_complication": "anestesikomplikasjon", "critical_condition": "kritisk tilstand",
    "ongoing_treatment_or_implant": "pågående behandling/implantat",
    "treatment_limitation": "behandlingsbegrensning", "infection": "smitte"}
CriticalStatus = Literal["registered", "verified", "refuted", "removed"]
_FROM: dict[str, tuple[str, ...]] = {"verified": ("registered",),
                                     "refuted": ("registered", "verified"),
                                     "removed": ("registered", "verified", "refuted")}
Reason = Field(default=None, max_length=2000)


class Clinician(Frozen):
    hpr: str
    unit: str = Field(description="organisation number of the unit acting")
    physician: bool = False


class Version(Frozen):
    """One version of an entry: the original (no reason) or a correction (with its reason)."""

    by: str
    unit: str
    at: datetime
    text: str | None = None  # notes
    value: float | None = None  # observations; None once entered in error
    reason: str | None = None


class Note(Frozen):
    note_id: UUID
    kind: NoteKind
    episode_id: UUID | None = None
    status: Literal["draft", "signed"] = "draft"
    signed_by: str | None = None
    signed_at: datetime | None = None
    versions: tuple[Version, ...]

    @property
    def text(self) -> str:
        return self.versions[-1].text or ""


class Observation(Frozen):
    observation_id: UUID
    code: str
    ucum: str
    effective_at: datetime
    status: Literal["final", "amended", "entered_in_error"] = "final"
    versions: tuple[Version, ...]

    @property
    def value(self) -> float | None:
        return self.versions[-1].value


class Condition(Frozen):
    condition_id: UUID
    system: str
    code: str
    display: str
    onset: date | None = None
    by: str
    recorded_at: datetime
    resolved_on: date | None = None


class Change(Frozen):
    status: CriticalStatus
    by: str
    at: datetime
    reason: str | None = None


class CriticalInfo(Frozen):
    critical_id: UUID
    category: CriticalCategory
    substance: str | None = None
    text: str | None = None
    reaction: str | None = None
    severity: Severity | None = None
    status: CriticalStatus = "registered"
    history: tuple[Change, ...]


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
    reason: str | None = Reason


class RecordObservation(Command):
    code: str = Field(max_length=20, description="LOINC code from VITALS")
    value: float
    ucum: str | None = Field(default=None, max_length=20, description="must be the code's unit")
    effective_at: AwareDatetime | None = None


class CorrectObservation(Command):
    observation_id: UUID
    value: float
    reason: str | None = Reason


class ObservationInError(Command):
    observation_id: UUID
    reason: str | None = Reason


class RecordCondition(Command):
    system: str = Field(max_length=60, description="ICPC-2 or ICD-10")
    code: str = Field(max_length=20)
    onset: date | None = None
    note: str | None = Reason


class ResolveCondition(Command):
    condition_id: UUID
    resolved_on: date | None = None
    reason: str | None = Reason


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
    reason: str | None = Reason


# --- checks ----------------------------------------------------------------------------------

def _who(by: Clinician) -> dict[str, str]:
    if not (by.hpr.isdigit() and 1 <= len(by.hpr) <= 9):
        raise invalid("An HPR number is 1 to 9 digits.")
    try:
        return {"by": by.hpr, "unit": validate_orgnr(by.unit)}
    except InvalidIdentifier as exc:
        raise invalid(f"unit: {exc}") from None


def _reason(reason: str | None, what: str) -> str:
    if not (stripped := (reason or "").strip()):
        raise invalid(f"{what} needs a reason.")
    return stripped


def _text(text: str) -> str:
    if not text.strip():
        raise invalid("text: a note needs text.")
    return text


def _find(items: tuple, attr: str, key: UUID, what: str):
    found = next((i for i in items if getattr(i, attr) == key), None)
    if found is None:
        raise not_found(f"No such {what} for this patient.")
    return found


def _value(code: str, value: float) -> float:
    name, ucum, low, high = VITALS[code]
    if not low <= value <= high:
        raise invalid(f"{name} {value:g} {ucum} is outside the plausible range {low:g}-{high:g}.")
    return value


# --- decisions -------------------------------------------------------------------------------

def draft_note(p: Patient, c: DraftNote, by: Clinician, now: datetime) -> list[EventPayload]:
    require_alive(p)
    who = _who(by)
    if c.episode_id is not None:
        _find(p.episodes, "episode_id", c.episode_id, "episode")
    if c.note_id is not None:
        n: Note = _find(p.notes, "note_id", c.note_id, "note")
        if n.status == "signed":
            raise conflict("A signed note is immutable: correct it instead of re-drafting.")
        if n.versions[0].by != by.hpr:
            raise Refused(403, "Only the author edits a draft.")
    return [ev.NoteDrafted(note_id=c.note_id or uuid4(), kind=c.kind, text=_text(c.text),
                           author=who["by"], unit=who["unit"], episode_id=c.episode_id,
                           drafted_at=now)]


def sign_note(p: Patient, c: SignNote, by: Clinician, now: datetime) -> list[EventPayload]:
    require_registered(p)  # also after death: open drafts are signed
    n: Note = _find(p.notes, "note_id", c.note_id, "note")
    if n.status == "signed":
        raise conflict("The note is already signed; a signed note is immutable.")
    if n.versions[0].by != by.hpr and not by.physician:
        raise Refused(403, "A note is signed by its author or a physician.")
    return [ev.NoteSigned(note_id=n.note_id, signed_by=_who(by)["by"], signed_at=now)]


def correct_note(p: Patient, c: CorrectNote, by: Clinician, now: datetime) -> list[EventPayload]:
    require_registered(p)  # also after death: the record stays correctable
    n: Note = _find(p.notes, "note_id", c.note_id, "note")
    if n.status == "draft":
        raise conflict("A draft is not corrected: edit it by re-drafting, then sign it.")
    reason, who = _reason(c.reason, "A correction"), _who(by)
    if c.text == n.text:
        raise invalid("The correction does not change the text.")
    return [ev.NoteCorrected(note_id=n.note_id, replaces_version=len(n.versions),
                             text=_text(c.text), reason=reason, author=who["by"],
                             unit=who["unit"], corrected_at=now)]


def record_observation(p: Patient, c: RecordObservation, by: Clinician,
                       now: datetime) -> list[EventPayload]:
    require_alive(p)
    if c.code not in VITALS:
        raise invalid(f"code {c.code!r} is not an allowed LOINC code; expected one of "
                      f"{', '.join(VITALS)}.")
    ucum = VITALS[c.code][1]
    if c.ucum is not None and c.ucum != ucum:
        raise invalid(f"LOINC {c.code} is recorded in {ucum!r}, not {c.ucum!r}.")
    at, who = c.effective_at or now, _who(by)
    if at > now:
        raise invalid("effective_at is in the future")
    return [ev.ObservationRecorded(observation_id=uuid4(), code=c.code,
                                   value=_value(c.code, c.value), ucum=ucum, effective_at=at,
                                   performer=who["by"], unit=who["unit"], recorded_at=now)]


def _open_observation(p: Patient, observation_id: UUID) -> Observation:
    require_registered(p)  # also after death: the record stays correctable
    o: Observation = _find(p.observations, "observation_id", observation_id, "observation")
    if o.status == "entered_in_error":
        raise conflict("The observation is already marked as entered in error.")
    return o


def correct_observation(p: Patient, c: CorrectObservation, by: Clinician,
                        now: datetime) -> list[EventPayload]:
    o = _open_observation(p, c.observation_id)
    reason, who = _reason(c.reason, "A correction"), _who(by)
    return [ev.ObservationCorrected(observation_id=o.observation_id,
                                    value=_value(o.code, c.value), reason=reason,
                                    corrected_at=now, **who)]


def mark_observation_in_error(p: Patient, c: ObservationInError, by: Clinician,
                              now: datetime) -> list[EventPayload]:
    o = _open_observation(p, c.observation_id)
    reason, who = _reason(c.reason, "Marking an observation as entered in error"), _who(by)
    return [ev.ObservationEnteredInError(observation_id=o.observation_id, reason=reason,
                                         marked_at=now, **who)]


def record_condition(p: Patient, c: RecordCondition, by: Clinician,
                     now: datetime) -> list[EventPayload]:
    require_alive(p)
    try:
        code = validate_diagnosis(c.system, c.code)
    except CodeError as exc:
        raise invalid(str(exc)) from None
    if c.onset is not None and c.onset > local_day(now):
        raise invalid("onset is in the future")
    if any(x.system == code.system.name and x.code == code.code and x.resolved_on is None
           for x in p.conditions):
        raise conflict(f"{code.system.name} {code.code} is already an active problem.")
    return [ev.ConditionRecorded(condition_id=uuid4(), system=code.system.name, code=code.code,
                                 display=code.text, onset=c.onset, note=c.note,
                                 recorded_at=now, **_who(by))]


def resolve_condition(p: Patient, c: ResolveCondition, by: Clinician,
                      now: datetime) -> list[EventPayload]:
    require_alive(p)
    x: Condition = _find(p.conditions, "condition_id", c.condition_id, "condition")
    if x.resolved_on is not None:
        raise conflict(f"The condition was already resolved on {x.resolved_on.isoformat()}.")
    on = c.resolved_on or local_day(now)
    if on > local_day(now) or (x.onset is not None and on < x.onset):
        raise invalid("resolved_on must be between the onset and today")
    return [ev.ConditionResolved(condition_id=x.condition_id, resolved_on=on, reason=c.reason,
                                 recorded_at=now, **_who(by))]


def register_critical_info(p: Patient, c: RegisterCriticalInfo, by: Clinician,
                           now: datetime) -> list[EventPayload]:
    require_alive(p)
    if c.category in ("drug_reaction", "other_allergy") and not (c.substance or "").strip():
        raise invalid(f"{CATEGORY_NO[c.category]}: name the substance.")
    if not (c.substance or c.text or "").strip():
        raise invalid(f"{CATEGORY_NO[c.category]}: give a substance or a text.")
    return [ev.CriticalInfoRegistered(
        critical_id=uuid4(), category=c.category, substance=c.substance, text=c.text,
        reaction=c.reaction, severity=c.severity, registered_at=now, **_who(by))]


def change_critical_info(p: Patient, c: ChangeCriticalInfo, by: Clinician,
                         now: datetime) -> list[EventPayload]:
    require_alive(p)
    x: CriticalInfo = _find(p.critical_info, "critical_id", c.critical_id,
                            "critical information")
    if x.status not in _FROM[c.to]:
        raise conflict(f"Critical information that is {x.status} cannot be {c.to}.")
    who = _who(by)
    if c.to == "verified":
        if not by.physician:
            raise Refused(403, "Critical information is verified by a physician.")
        return [ev.CriticalInfoVerified(critical_id=x.critical_id, verified_at=now, **who)]
    reason = _reason(c.reason, f"Critical information {c.to}")
    if c.to == "refuted":
        return [ev.CriticalInfoRefuted(critical_id=x.critical_id, reason=reason,
                                       refuted_at=now, **who)]
    return [ev.CriticalInfoRemoved(critical_id=x.critical_id, reason=reason, removed_at=now,
                                   **who)]


# --- reads -----------------------------------------------------------------------------------

def latest_observations(p: Patient) -> dict[str, Observation]:
    """The newest valid observation per LOINC code (by effective time)."""
    out: dict[str, Observation] = {}
    for o in sorted(p.observations, key=lambda o: o.effective_at):
        if o.status != "entered_in_error":
            out[o.code] = o
    return out


# --- evolve ----------------------------------------------------------------------------------

def _with(items: tuple, attr: str, key: UUID, update) -> tuple:
    return tuple(update(i) if getattr(i, attr) == key else i for i in items)


def _critical(p: Patient, e, status: str, at: datetime, reason: str | None = None) -> Patient:
    change = Change(status=status, by=e.by, at=at, reason=reason)
    return p.model_copy(update={"critical_info": _with(
        p.critical_info, "critical_id", e.critical_id, lambda x: x.model_copy(
            update={"status": status, "history": (*x.history, change)}))})


def evolve(p: Patient, e: EventPayload) -> Patient:
    """The clinical arms of ``patients.evolve``; other events leave the state as it is."""
    u = p.model_copy
    match e:
        case ev.NoteDrafted():  # a new note, or a draft's new text
            v = Version(by=e.author, unit=e.unit, at=e.drafted_at, text=e.text)
            n = Note(note_id=e.note_id, kind=e.kind, episode_id=e.episode_id, versions=(v,))
            rest = tuple(x for x in p.notes if x.note_id != e.note_id)
            return u(update={"notes": _with(p.notes, "note_id", e.note_id, lambda _: n)
                             if len(rest) < len(p.notes) else (*p.notes, n)})
        case ev.NoteSigned():
            return u(update={"notes": _with(p.notes, "note_id", e.note_id, lambda x: x.model_copy(
                update={"status": "signed", "signed_by": e.signed_by, "signed_at": e.signed_at}))})
        case ev.NoteCorrected():
            v = Version(by=e.author, unit=e.unit, at=e.corrected_at, text=e.text, reason=e.reason)
            return u(update={"notes": _with(p.notes, "note_id", e.note_id, lambda x: x.model_copy(
                update={"versions": (*x.versions, v)}))})
        case ev.ObservationRecorded():
            o = Observation(observation_id=e.observation_id, code=e.code, ucum=e.ucum,
                            effective_at=e.effective_at, versions=(Version(
                                by=e.performer, unit=e.unit, at=e.recorded_at, value=e.value),))
            return u(update={"observations": (*p.observations, o)})
        case ev.ObservationCorrected() | ev.ObservationEnteredInError():
            fixed = isinstance(e, ev.ObservationCorrected)
            v = Version(by=e.by, unit=e.unit, reason=e.reason,
                        at=e.corrected_at if fixed else e.marked_at,
                        value=e.value if fixed else None)
            status = "amended" if fixed else "entered_in_error"
            return u(update={"observations": _with(
                p.observations, "observation_id", e.observation_id, lambda x: x.model_copy(
                    update={"status": status, "versions": (*x.versions, v)}))})
        case ev.ConditionRecorded():
            x = Condition(condition_id=e.condition_id, system=e.system, code=e.code,
                          display=e.display, onset=e.onset, by=e.by, recorded_at=e.recorded_at)
            return u(update={"conditions": (*p.conditions, x)})
        case ev.ConditionResolved():
            return u(update={"conditions": _with(
                p.conditions, "condition_id", e.condition_id,
                lambda x: x.model_copy(update={"resolved_on": e.resolved_on}))})
        case ev.CriticalInfoRegistered():
            x = CriticalInfo(critical_id=e.critical_id, category=e.category,
                             substance=e.substance, text=e.text, reaction=e.reaction,
                             severity=e.severity, history=(Change(
                                 status="registered", by=e.by, at=e.registered_at),))
            return u(update={"critical_info": (*p.critical_info, x)})
        case ev.CriticalInfoVerified():
            return _critical(p, e, "verified", e.verified_at)
        case ev.CriticalInfoRefuted():
            return _critical(p, e, "refuted", e.refuted_at, e.reason)
        case ev.CriticalInfoRemoved():
            return _critical(p, e, "removed", e.removed_at, e.reason)
    return p
