"""The clinical record as state of a patient's stream: notes with their versions, conditions
and critical information (CAVE), the code tables they use, and their fold (the clinical arms of
``patients.evolve``). Decisions on them are ``clinical.py``'s.

Observations are folded on their own (``fold_observation``, ``fold_observations``): a patient
gathers thousands a year, so they are not part of the patient's state, whose every write and
cold load would otherwise grow with them (issue 12, finding 6). The journal's read model keeps
them in a table of their own, one row per observation.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from libs.events.registry import EventPayload
from libs.kernel.model import Frozen
from services.journal import contract as ev
from services.journal.contract import CriticalCategory, NoteKind, Severity

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
    device: str | None = None
    """A welfare-technology device's measurement (``projections/welfare.py``): the device's
    client id; its version's ``by`` repeats it and ``unit`` is empty (no person recorded it)."""
    category: tuple[str, ...] = ()
    """A result's FHIR observation categories; none for the journal's own vital signs."""
    codings: tuple[ev.Coded, ...] = ()
    """A result's every coding of its code (``code`` is the first); none for a vital sign."""
    text: str | None = None
    concept: tuple[ev.Coded, ...] = ()
    """A coded value (valueCodeableConcept); the versions' ``value`` is then None."""
    components: tuple[ev.Component, ...] = ()

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
    codings: tuple[ev.Coded, ...] = ()
    """Every further coding given (SNOMED CT, ...); for a ``ConditionCoded`` every coding."""


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


# --- reads -----------------------------------------------------------------------------------

def latest_observations(observations: Iterable[Observation]) -> dict[str, Observation]:
    """The newest valid observation per LOINC code (by effective time)."""
    out: dict[str, Observation] = {}
    for o in sorted(observations, key=lambda o: o.effective_at):
        if o.status != "entered_in_error":
            out[o.code] = o
    return out


OBSERVATION_EVENTS = (ev.ObservationRecorded, ev.ObservationResultRecorded,
                      ev.ObservationCorrected, ev.ObservationEnteredInError)


def fold_observation(o: Observation | None, e: EventPayload) -> Observation | None:
    """One observation's state after ``e`` (one of ``OBSERVATION_EVENTS`` about it)."""
    match e:
        case ev.ObservationRecorded():
            return Observation(observation_id=e.observation_id, code=e.code, ucum=e.ucum,
                               effective_at=e.effective_at, versions=(Version(
                                   by=e.performer, unit=e.unit, at=e.recorded_at,
                                   value=e.value),))
        case ev.ObservationResultRecorded():
            q = e.quantity
            return Observation(
                observation_id=e.observation_id, code=e.code[0].code,
                ucum=(q.unit or "") if q else "", effective_at=e.effective_at,
                category=e.category, codings=e.code, text=e.text, concept=e.concept,
                components=e.components, versions=(Version(
                    by=e.performer, unit=e.unit, at=e.recorded_at,
                    value=q.value if q else None),))
        case ev.ObservationCorrected() | ev.ObservationEnteredInError() if o is not None:
            fixed = isinstance(e, ev.ObservationCorrected)
            v = Version(by=e.by, unit=e.unit, reason=e.reason,
                        at=e.corrected_at if fixed else e.marked_at,
                        value=e.value if fixed else None)
            return o.model_copy(update={
                "status": "amended" if fixed else "entered_in_error",
                "versions": (*o.versions, v)})
    return o


def fold_observations(payloads: Iterable[EventPayload]) -> dict[UUID, Observation]:
    """Every observation the events make, by id, in the order they were recorded."""
    out: dict[UUID, Observation] = {}
    for e in payloads:
        if isinstance(e, OBSERVATION_EVENTS):
            o = fold_observation(out.get(e.observation_id), e)
            if o is not None:
                out[e.observation_id] = o
    return out


# --- evolve ----------------------------------------------------------------------------------

def position(items: tuple, attr: str, key: UUID) -> int | None:
    """Where the entry whose ``attr`` is ``key`` is, looked for from the newest (the one a
    signature or correction names mostly is); ids compared as integers (``UUID.__eq__`` is a
    Python call per entry: a note's fold was ~5 % of its write's CPU, bench/RESULTS.md)."""
    k = key.int
    for i in range(len(items) - 1, -1, -1):
        if getattr(items[i], attr).int == k:
            return i
    return None


def entry(items: tuple, attr: str, key: UUID):
    """The entry whose ``attr`` is ``key`` (``position``), or ``None``."""
    i = position(items, attr, key)
    return None if i is None else items[i]


def _at(items: tuple, i: int, item) -> tuple:
    return (*items[:i], item, *items[i + 1:])


def _with(items: tuple, attr: str, key: UUID, update) -> tuple:
    """``items`` with the entry whose ``attr`` is ``key`` updated (as they were without one)."""
    i = position(items, attr, key)
    return items if i is None else _at(items, i, update(items[i]))


def _critical(p: Patient, e, status: str, at: datetime, reason: str | None = None) -> Patient:
    change = Change(status=status, by=e.by, at=at, reason=reason)
    return p.model_copy(update={"critical_info": _with(
        p.critical_info, "critical_id", e.critical_id, lambda x: x.model_copy(
            update={"status": status, "history": (*x.history, change)}))})


def evolve(p: Patient, e: EventPayload) -> Patient:
    """The clinical arms of ``patients.evolve``; other events (and observations, folded on
    their own) leave the state as it is."""
    u = p.model_copy
    match e:
        case ev.NoteDrafted():  # a new note, or a draft's new text
            v = Version(by=e.author, unit=e.unit, at=e.drafted_at, text=e.text)
            n = Note(note_id=e.note_id, kind=e.kind, episode_id=e.episode_id, versions=(v,))
            i = position(p.notes, "note_id", e.note_id)
            return u(update={"notes": (*p.notes, n) if i is None else _at(p.notes, i, n)})
        case ev.NoteSigned():
            return u(update={"notes": _with(p.notes, "note_id", e.note_id, lambda x: x.model_copy(
                update={"status": "signed", "signed_by": e.signed_by, "signed_at": e.signed_at}))})
        case ev.NoteCorrected():
            v = Version(by=e.author, unit=e.unit, at=e.corrected_at, text=e.text, reason=e.reason)
            return u(update={"notes": _with(p.notes, "note_id", e.note_id, lambda x: x.model_copy(
                update={"versions": (*x.versions, v)}))})
        case ev.ConditionRecorded():
            x = Condition(condition_id=e.condition_id, system=e.system, code=e.code,
                          display=e.display, onset=e.onset, by=e.by, recorded_at=e.recorded_at)
            return u(update={"conditions": (*p.conditions, x)})
        case ev.ConditionCoded():
            first = e.codings[0]
            x = Condition(condition_id=e.condition_id, system=first.system, code=first.code,
                          display=e.display, onset=e.onset, by=e.by, recorded_at=e.recorded_at,
                          codings=e.codings)
            return u(update={"conditions": (*p.conditions, x)})
        case ev.ConditionCodings():
            return u(update={"conditions": _with(
                p.conditions, "condition_id", e.condition_id,
                lambda x: x.model_copy(update={"codings": (*x.codings, *e.codings)}))})
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
