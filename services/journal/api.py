"""The journal's REST API: patient administration, the clinical record and its reads.

Every route with a patient in its path is guarded (``guarded``: decide, log ``AccessLogged``
durably, then permit or 403). Writes return a consistency token; a read that sends it back sees
the write. A write may send ``If-Match`` with the record version it was made against (the
``ETag`` of a read): a stale version is a 412 with the current one, so two people changing one
record at once never overwrite each other silently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field

from libs.access.guard import (
    AccessDenied, AccessDep, CurrentSubject, Grant, actor_of, declared, guarded,
)
from libs.access.model import Action, Basis, Practitioner, Resource, Role
from libs.access.policy import OSLO, local_day
from libs.events.envelope import Actor, new_event_id
from libs.events.registry import EventPayload
from libs.events.store import AppendResult
from libs.web.consistency import written
from services.journal import views
from services.journal.domain import Refused
from services.journal.domain import clinical as cl
from services.journal.domain import episodes as ep
from services.journal.domain import patients as pt
from services.journal.domain.patients import Patient
from services.journal.handlers import JournalStore, PreconditionFailed
from services.journal.projections import RecordReader

router = APIRouter()


# async: FastAPI runs a plain ``def`` dependency in its thread pool, two thread hand-offs per
# request for an attribute lookup (bench/RESULTS.md, journal)
async def journal(request: Request) -> JournalStore:
    return request.app.state.journal


async def reader(request: Request) -> RecordReader:
    return request.app.state.reader


Journal = Annotated[JournalStore, Depends(journal)]
Reader = Annotated[RecordReader, Depends(reader)]
AsOf = Annotated[AwareDatetime | None, Query(description=(
    "Read the record as it stood at this instant (ISO 8601 with offset): what a clinician "
    "saw when they acted. Corrections made later are not shown."))]
IfMatch = Annotated[str | None, Header(alias="If-Match", description=(
    'The record version the change was made against, as in the ETag of a read (W/"7")'))]


# --- shared pieces ---------------------------------------------------------------------------

def practitioner(who) -> Practitioner:
    if not isinstance(who, Practitioner):
        raise Refused(403, "Only health personnel can do this.")
    return who


def clinician(who) -> cl.Clinician:
    """The professional documenting: HPR number, unit, physician or not (from the token)."""
    pro = practitioner(who)
    if not pro.hpr:
        raise Refused(403, "Only authorised health personnel (with an HPR number) can "
                           "document in the record.")
    return cl.Clinician(hpr=pro.hpr, unit=pro.unit,
                        physician=Role.physician in pro.roles or Role.prescriber in pro.roles)


def expected(if_match: str | None) -> int | None:
    """``W/"7"``, ``"7"`` or ``7`` -> 7; anything else is a 422 (never a silent overwrite)."""
    if if_match is None or if_match.strip() == "*":
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise Refused(422, 'If-Match must be the version from a read\'s ETag, e.g. W/"7".')
    return int(raw)


def hidden(grant: Grant) -> frozenset[str]:
    return views.hidden_for(grant.decision.hidden, grant.decision.categories)


def etag(version: int) -> str:
    return f'W/"{version}"'


async def change_or_412(store: JournalStore, patient_id: UUID,
                        decide: Callable[[Patient], Sequence[EventPayload]], actor: Actor,
                        if_match: str | None) -> AppendResult | None:
    """Decide and append against the version ``If-Match`` names (412 when it is stale)."""
    try:
        return await store.execute(patient_id, decide, actor,
                                   expected_version=expected(if_match))
    except PreconditionFailed as exc:
        raise Refused(412, f"The record has changed: it is at version {exc.current}. Read "
                           "the record again and redo your change against "
                           f"version {exc.current}.") from None


async def change(response: Response, store: JournalStore, patient_id: UUID, grant: Grant,
                 decide: Callable[[Patient], Sequence[EventPayload]], if_match: str | None,
                 body: dict[str, Any] | Callable[[AppendResult], dict[str, Any]],
                 status: int = 201) -> dict[str, Any]:
    result = await change_or_412(store, patient_id, decide, actor_of(grant.subject), if_match)
    if result is None:   # nothing changed (a repeated request)
        response.status_code = 200
        return body if isinstance(body, dict) else {}
    response.headers["ETag"] = etag(result.version)
    return written(response, result, body(result) if callable(body) else body, status)


def created_id(field: str) -> Callable[[AppendResult], dict[str, Any]]:
    """The id of what the write created, from its first event."""
    return lambda result: {field: str(result.envelopes[0].data[field])}


async def record_at(store: JournalStore, records: RecordReader, patient_id: UUID,
                    as_of: datetime | None) -> tuple[Patient, int]:
    """The record now (the read model) or as it stood at ``as_of`` (folded from the store)."""
    if as_of is not None:
        loaded = await store.history(patient_id, as_of)
        patient, version = loaded.state, loaded.version
    else:
        found = await records.patient(patient_id)
        patient, version = found if found else (Patient.unknown(patient_id), 0)
    if not patient.registered:
        raise Refused(404, "The record did not exist at that time." if as_of is not None
                      else "No record for this patient in the journal.")
    return patient, version


# --- patients --------------------------------------------------------------------------------

class RegisterBody(pt.RegisterPatient):
    patient_id: UUID | None = Field(default=None, description="internal id; new if omitted")


@router.post("/patients", status_code=201, tags=["patients"])
async def register_patient(body: RegisterBody, who: CurrentSubject, response: Response,
                           request: Request, access: AccessDep, store: Journal):
    """Register a patient (national id validated; sex is its own field). A person already
    known to the access model keeps their patient id."""
    pro = practitioner(who)
    s = request.app.state.settings
    known = await access.reader.patient_for(body.national_id.strip())
    patient_id = known or body.patient_id or new_event_id()
    command = pt.RegisterPatient(**body.model_dump(exclude={"patient_id"}))
    await access.record(pro, Action.write, Resource(patient_id=patient_id, category="identity"),
                        declared("patient_registered", Basis.administration))
    now = access.now()
    result = await store.register(patient_id, lambda p: pt.register_patient(
        p, command, now, production=s.environment == "production", rule_2032=s.id_rule_2032),
        actor_of(pro))
    response.headers["ETag"] = etag(result.version)
    return written(response, result, {"patient_id": str(patient_id)})


class LookupBody(BaseModel):
    national_id: str = Field(min_length=1, max_length=20)


@router.post("/patients/$lookup", tags=["patients"])
async def lookup(body: LookupBody, who: CurrentSubject, access: AccessDep, store: Journal):
    """Find a patient by national id (in the body, so it is never in a URL or a log). Only
    staff with a need-to-know for that patient get an answer; everyone else gets the same 404
    whether or not the patient exists."""
    pro = practitioner(who)
    patient_id = await store.claimed_by(body.national_id.strip())
    probe = patient_id or new_event_id()   # an unknown number is decided like a stranger
    try:
        await access.require(pro, Action.read, Resource(patient_id=probe, category="identity"),
                             resources=("identity",))
    except AccessDenied:
        raise Refused(404, "No patient found that you have a need-to-know for.") from None
    if patient_id is None:
        raise Refused(404, "No patient found that you have a need-to-know for.")
    return {"patient_id": str(patient_id)}


# response_model: serialised by pydantic-core, not walked by ``jsonable_encoder`` (10–18 % of
# the read's CPU on a 20-note record; bench/RESULTS.md, journal)
@router.get("/patients/{patient_id}", tags=["reads"], response_model=dict[str, Any])
async def overview(patient_id: UUID, response: Response, store: Journal, records: Reader,
                   access: AccessDep, as_of: AsOf = None,
                   grant: Grant = Depends(guarded(Action.read, "record"))):
    """Overview: active episodes and service decisions, CAVE, latest vital signs, open tasks,
    active care plans and the newest notes; ``as_of`` for the record as it stood then."""
    patient, version = await record_at(store, records, patient_id, as_of)
    response.headers["ETag"] = etag(version)
    viewer = grant.subject.hpr if isinstance(grant.subject, Practitioner) else None
    return views.overview(patient, as_of or access.now(), hidden(grant), viewer) | {
        "version": version, "as_of": as_of.isoformat() if as_of else None}


@router.get("/patients/{patient_id}/timeline", tags=["reads"])
async def timeline(patient_id: UUID, store: Journal, as_of: AsOf = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                   grant: Grant = Depends(guarded(Action.read, "record"))):
    """Every change to the record, newest first, with who made it; corrections next to what
    they correct."""
    loaded = await store.history(patient_id, as_of)
    if not loaded.state.registered:
        raise Refused(404, "No record for this patient in the journal.")
    return {"version": loaded.version,
            "entries": views.timeline(loaded.envelopes, hidden(grant))[:limit]}


@router.get("/patients/{patient_id}/notes", tags=["reads"])
async def list_notes(patient_id: UUID, store: Journal, records: Reader, response: Response,
                     kind: Annotated[str | None, Query(description="e.g. home_care_visit")] = None,
                     as_of: AsOf = None,
                     grant: Grant = Depends(guarded(Action.read, "notes"))):
    patient, version = await record_at(store, records, patient_id, as_of)
    response.headers["ETag"] = etag(version)
    viewer = grant.subject.hpr if isinstance(grant.subject, Practitioner) else None
    return {"version": version,
            "notes": views.notes(patient, hidden(grant), kind, viewer)}


@router.patch("/patients/{patient_id}", tags=["patients"])
async def change_details(patient_id: UUID, body: pt.ChangeDetails, request: Request,
                         response: Response, store: Journal, access: AccessDep,
                         if_match: IfMatch = None,
                         grant: Grant = Depends(guarded(Action.write, "identity"))):
    s, now = request.app.state.settings, access.now()
    return await change(response, store, patient_id, grant, lambda p: pt.change_details(
        p, body, now, production=s.environment == "production", rule_2032=s.id_rule_2032),
        if_match, {"patient_id": str(patient_id)}, status=200)


@router.post("/patients/{patient_id}/death", tags=["patients"])
async def record_death(patient_id: UUID, body: pt.RecordDeath, response: Response,
                       store: Journal, access: AccessDep, if_match: IfMatch = None,
                       grant: Grant = Depends(guarded(Action.write, "identity"))):
    now = access.now()
    return await change(response, store, patient_id, grant,
                        lambda p: pt.record_death(p, body, now), if_match,
                        {"patient_id": str(patient_id)}, status=200)


# --- episodes, assessments and service decisions ---------------------------------------------

@router.post("/patients/{patient_id}/episodes", status_code=201, tags=["episodes"])
async def start_episode(patient_id: UUID, body: ep.StartEpisode, response: Response,
                        store: Journal, access: AccessDep, if_match: IfMatch = None,
                        grant: Grant = Depends(guarded(Action.write, "episodes"))):
    """Start an episode of care; its unit gets a care relation for the episode's length."""
    now = access.now()
    return await change(response, store, patient_id, grant,
                        lambda p: ep.start_episode(p, body, now), if_match,
                        created_id("episode_id"))


class EndBody(BaseModel):
    ended_at: AwareDatetime | None = None
    reason: str | None = Field(default=None, max_length=2000)


@router.post("/patients/{patient_id}/episodes/{episode_id}/end", tags=["episodes"])
async def end_episode(patient_id: UUID, episode_id: UUID, body: EndBody, response: Response,
                      store: Journal, access: AccessDep, if_match: IfMatch = None,
                      grant: Grant = Depends(guarded(Action.write, "episodes"))):
    now = access.now()
    command = ep.EndEpisode(episode_id=episode_id, **body.model_dump())
    return await change(response, store, patient_id, grant,
                        lambda p: ep.end_episode(p, command, now), if_match,
                        {"episode_id": str(episode_id)}, status=200)


@router.post("/patients/{patient_id}/assessments", status_code=201, tags=["service decisions"])
async def assess(patient_id: UUID, body: ep.AssessIplos, response: Response, store: Journal,
                 access: AccessDep, if_match: IfMatch = None,
                 grant: Grant = Depends(guarded(Action.write, "assessments"))):
    """An IPLOS functional assessment: every variable scored 1–5, or 9 (not relevant)."""
    by = clinician(grant.subject)
    now = access.now()
    return await change(response, store, patient_id, grant,
                        lambda p: ep.assess_iplos(p, body, by.hpr, now), if_match,
                        created_id("assessment_id"))


@router.post("/patients/{patient_id}/services", status_code=201, tags=["service decisions"])
async def apply_for_service(patient_id: UUID, body: ep.ApplyForService, response: Response,
                            store: Journal, access: AccessDep, if_match: IfMatch = None,
                            grant: Grant = Depends(guarded(Action.write, "services"))):
    """An application for a municipal health and care service (IPLOS service code)."""
    now = access.now()
    return await change(response, store, patient_id, grant,
                        lambda p: ep.apply_for_service(p, body, now), if_match,
                        created_id("decision_id"))


class GrantBody(BaseModel):
    from_date: date
    to_date: date | None = None
    scope: ep.Scope
    provider: str = Field(max_length=20, description="organisation number of the provider")
    service_code: str | None = Field(default=None, max_length=10)
    assessment_id: UUID | None = None


@router.post("/patients/{patient_id}/services/{decision_id}/grant", tags=["service decisions"])
async def grant_service(patient_id: UUID, decision_id: UUID, body: GrantBody,
                        response: Response, store: Journal, access: AccessDep,
                        if_match: IfMatch = None,
                        grant: Grant = Depends(guarded(Action.write, "services"))):
    """Grant (vedtak). Needs a complete IPLOS assessment; the provider unit gets a care
    relation (through the consent service, a moment later: ``care_relation`` in the answer)."""
    now = access.now()
    command = ep.GrantService(decision_id=decision_id, **body.model_dump())
    return await change(response, store, patient_id, grant,
                        lambda p: ep.grant_service(p, command, now).events, if_match,
                        {"decision_id": str(decision_id),
                         "care_relation": {"unit": body.provider, "status": "requested"}},
                        status=200)


class RefuseBody(BaseModel):
    reason: str = Field(min_length=3, max_length=2000)


@router.post("/patients/{patient_id}/services/{decision_id}/refuse", tags=["service decisions"])
async def refuse_service(patient_id: UUID, decision_id: UUID, body: RefuseBody,
                         response: Response, store: Journal, access: AccessDep,
                         if_match: IfMatch = None,
                         grant: Grant = Depends(guarded(Action.write, "services"))):
    now = access.now()
    command = ep.RefuseService(decision_id=decision_id, reason=body.reason)
    return await change(response, store, patient_id, grant,
                        lambda p: ep.refuse_service(p, command, now), if_match,
                        {"decision_id": str(decision_id)}, status=200)


class EndServiceBody(BaseModel):
    ended_on: date | None = None
    reason: str | None = Field(default=None, max_length=2000)


@router.post("/patients/{patient_id}/services/{decision_id}/end", tags=["service decisions"])
async def end_service(patient_id: UUID, decision_id: UUID, body: EndServiceBody,
                      response: Response, store: Journal, access: AccessDep,
                      if_match: IfMatch = None,
                      grant: Grant = Depends(guarded(Action.write, "services"))):
    now = access.now()
    command = ep.EndService(decision_id=decision_id, **body.model_dump())
    return await change(response, store, patient_id, grant,
                        lambda p: ep.end_service(p, command, now), if_match,
                        {"decision_id": str(decision_id)}, status=200)


# --- notes -----------------------------------------------------------------------------------

@router.post("/patients/{patient_id}/notes", status_code=201, tags=["notes"])
async def draft_note(patient_id: UUID, body: cl.DraftNote, response: Response, store: Journal,
                     access: AccessDep, if_match: IfMatch = None,
                     sign: Annotated[bool, Query(description="sign at once")] = False,
                     grant: Grant = Depends(guarded(Action.write, "notes"))):
    """Draft a note (or re-draft your draft, with its ``note_id``); ``sign=true`` drafts and
    signs in one step."""
    by, now = clinician(grant.subject), access.now()

    def decide(p: Patient) -> list[EventPayload]:
        events = cl.draft_note(p, body, by, now)
        if sign:
            note_id = events[0].note_id
            events += cl.sign_note(pt.evolve(p, events[0]), cl.SignNote(note_id=note_id),
                                   by, now)
        return events

    return await change(response, store, patient_id, grant, decide, if_match,
                        created_id("note_id"))


@router.post("/patients/{patient_id}/notes/{note_id}/sign", tags=["notes"])
async def sign_note(patient_id: UUID, note_id: UUID, response: Response, store: Journal,
                    access: AccessDep, if_match: IfMatch = None,
                    grant: Grant = Depends(guarded(Action.write, "notes"))):
    by, now = clinician(grant.subject), access.now()
    return await change(response, store, patient_id, grant,
                        lambda p: cl.sign_note(p, cl.SignNote(note_id=note_id), by, now),
                        if_match, {"note_id": str(note_id)}, status=200)


class CorrectionBody(BaseModel):
    text: str = Field(max_length=20000)
    reason: str | None = Field(default=None, max_length=2000)


@router.post("/patients/{patient_id}/notes/{note_id}/corrections", status_code=201,
             tags=["notes"])
async def correct_note(patient_id: UUID, note_id: UUID, body: CorrectionBody,
                       response: Response, store: Journal, access: AccessDep,
                       if_match: IfMatch = None,
                       grant: Grant = Depends(guarded(Action.write, "notes"))):
    """Correct a signed note: the original stays, with the reason for the change."""
    by, now = clinician(grant.subject), access.now()
    command = cl.CorrectNote(note_id=note_id, **body.model_dump())
    return await change(response, store, patient_id, grant,
                        lambda p: cl.correct_note(p, command, by, now), if_match,
                        {"note_id": str(note_id)})


# --- observations, conditions, critical information ------------------------------------------

@router.post("/patients/{patient_id}/observations", status_code=201, tags=["observations"])
async def record_observation(patient_id: UUID, body: cl.RecordObservation, response: Response,
                             store: Journal, access: AccessDep, if_match: IfMatch = None,
                             grant: Grant = Depends(guarded(Action.write, "observations"))):
    """A vital sign (LOINC code, UCUM unit)."""
    by, now = clinician(grant.subject), access.now()
    return await change(response, store, patient_id, grant,
                        lambda p: cl.record_observation(p, body, by, now), if_match,
                        created_id("observation_id"))


class ValueCorrection(BaseModel):
    value: float
    reason: str | None = Field(default=None, max_length=2000)


class Reasoned(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)


@router.post("/patients/{patient_id}/observations/{observation_id}/corrections",
             status_code=201, tags=["observations"])
async def correct_observation(patient_id: UUID, observation_id: UUID, body: ValueCorrection,
                              response: Response, store: Journal, access: AccessDep,
                              if_match: IfMatch = None,
                              grant: Grant = Depends(guarded(Action.write, "observations"))):
    by, now = clinician(grant.subject), access.now()
    command = cl.CorrectObservation(observation_id=observation_id, **body.model_dump())
    return await change(response, store, patient_id, grant,
                        lambda p: cl.correct_observation(p, command, by, now), if_match,
                        {"observation_id": str(observation_id)})


@router.post("/patients/{patient_id}/observations/{observation_id}/entered-in-error",
             tags=["observations"])
async def observation_in_error(patient_id: UUID, observation_id: UUID, body: Reasoned,
                               response: Response, store: Journal, access: AccessDep,
                               if_match: IfMatch = None,
                               grant: Grant = Depends(guarded(Action.write, "observations"))):
    by, now = clinician(grant.subject), access.now()
    command = cl.ObservationInError(observation_id=observation_id, reason=body.reason)
    return await change(response, store, patient_id, grant,
                        lambda p: cl.mark_observation_in_error(p, command, by, now), if_match,
                        {"observation_id": str(observation_id)}, status=200)


@router.post("/patients/{patient_id}/conditions", status_code=201, tags=["conditions"])
async def record_condition(patient_id: UUID, body: cl.RecordCondition, response: Response,
                           store: Journal, access: AccessDep, if_match: IfMatch = None,
                           grant: Grant = Depends(guarded(Action.write, "conditions"))):
    """A problem or diagnosis, coded in ICPC-2 or ICD-10 (the national code lists)."""
    by, now = clinician(grant.subject), access.now()
    return await change(response, store, patient_id, grant,
                        lambda p: cl.record_condition(p, body, by, now), if_match,
                        created_id("condition_id"))


class ResolveBody(BaseModel):
    resolved_on: date | None = None
    reason: str | None = Field(default=None, max_length=2000)


@router.post("/patients/{patient_id}/conditions/{condition_id}/resolve", tags=["conditions"])
async def resolve_condition(patient_id: UUID, condition_id: UUID, body: ResolveBody,
                            response: Response, store: Journal, access: AccessDep,
                            if_match: IfMatch = None,
                            grant: Grant = Depends(guarded(Action.write, "conditions"))):
    by, now = clinician(grant.subject), access.now()
    command = cl.ResolveCondition(condition_id=condition_id, **body.model_dump())
    return await change(response, store, patient_id, grant,
                        lambda p: cl.resolve_condition(p, command, by, now), if_match,
                        {"condition_id": str(condition_id)}, status=200)


@router.post("/patients/{patient_id}/critical-info", status_code=201, tags=["critical info"])
async def register_critical(patient_id: UUID, body: cl.RegisterCriticalInfo,
                            response: Response, store: Journal, access: AccessDep,
                            if_match: IfMatch = None,
                            grant: Grant = Depends(guarded(Action.write, "critical_info"))):
    """Critical information (CAVE) in the Kjernejournal categories."""
    by, now = clinician(grant.subject), access.now()
    return await change(response, store, patient_id, grant,
                        lambda p: cl.register_critical_info(p, body, by, now), if_match,
                        created_id("critical_id"))


class CriticalChange(BaseModel):
    to: Literal["verified", "refuted", "removed"]
    reason: str | None = Field(default=None, max_length=2000)


@router.post("/patients/{patient_id}/critical-info/{critical_id}/status", tags=["critical info"])
async def change_critical(patient_id: UUID, critical_id: UUID, body: CriticalChange,
                          response: Response, store: Journal, access: AccessDep,
                          if_match: IfMatch = None,
                          grant: Grant = Depends(guarded(Action.write, "critical_info"))):
    """Verify (physicians), refute or remove (with a reason)."""
    by, now = clinician(grant.subject), access.now()
    command = cl.ChangeCriticalInfo(critical_id=critical_id, **body.model_dump())
    return await change(response, store, patient_id, grant,
                        lambda p: cl.change_critical_info(p, command, by, now), if_match,
                        {"critical_id": str(critical_id)}, status=200)


# --- worklist --------------------------------------------------------------------------------

@router.get("/worklist", tags=["worklist"])
async def worklist(who: CurrentSubject, records: Reader, access: AccessDep,
                   unit: Annotated[str | None, Query(description="default: your unit")] = None,
                   day: Annotated[date | None, Query(description="default: today")] = None,
                   overdue: Annotated[bool, Query(description="also open tasks from "
                                                  "earlier days")] = True):
    """The unit's open tasks for a day (Norwegian time), by due time. Each patient shown is
    an access to that patient, decided and logged; tasks of patients the caller may not see
    are left out and counted."""
    pro = practitioner(who)
    unit = unit or pro.unit
    if unit not in (pro.unit, pro.org_parent):
        raise Refused(403, "You can only see the worklist of your own unit.")
    now = access.now()
    day = day or local_day(now)
    start = datetime.combine(day, time(), OSLO)
    end = datetime.combine(day + timedelta(days=1), time(), OSLO)
    tasks = await records.worklist(unit, start, end, overdue)
    shown, withheld, decided = [], 0, {}
    for task in tasks:
        pid = UUID(task["patient_id"])
        if pid not in decided:
            try:
                await access.require(pro, Action.read, Resource(patient_id=pid,
                                                                category="tasks"),
                                     resources=("worklist",))
                decided[pid] = True
            except AccessDenied:
                decided[pid] = False
        if decided[pid]:
            shown.append(task | {"overdue": datetime.fromisoformat(task["due_at"]) < now})
        else:
            withheld += 1
    return {"unit": unit, "day": day.isoformat(), "tasks": shown,
            "not_shown": withheld}
