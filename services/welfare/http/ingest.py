"""Ingestion: devices and gateways post FHIR R4 Observations (measurements) and Flags (events
and alarms), one at a time or as a ``batch`` Bundle.

The whole request is checked before anything is written: first the people it names (each
decided for the device: assigned to them, or the generic 403 that never says whether a person
exists), then every entry: any bad one (unknown code, a unit that is not
UCUM, an implausible value, a time far in the future, an oversized batch) is a 4xx
OperationOutcome and nothing is written. A burst larger than the pipeline can take is a 429
with ``Retry-After`` (``pressure.py``). Then each reading is accepted or quarantined by
the legal bases, and everything new is committed in one transaction before the answer. A reading seen
before (same device, same event id) is answered 200 and recorded once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Body, HTTPException, Request, Response

from libs.access.model import Action, Resource
from libs.kernel.errors import Invalid
from libs.web.consistency import written
from libs.web.guard import AccessDep, CurrentSubject, actor_of
from libs.web.routing import PathRouter
from services.welfare.domain import intake, quarantine
from services.welfare.http.deps import CATEGORY, ConfigDep, IntakeDep, device
from services.welfare.projections.devices import facts_and_technology
from services.welfare.store import Item

router = PathRouter(tags=["ingestion"])
FhirBody = Annotated[dict[str, Any], Body(description="a FHIR R4 resource (JSON)")]


async def _ingest(request: Request, response: Response, resources: list[tuple[str, Any]],
                  subject, access, store, config) -> list[dict[str, Any]]:
    device(subject)
    if len(resources) > config.max_batch:
        raise HTTPException(413, f"A batch carries at most {config.max_batch} readings; this "
                                 f"one has {len(resources)}. Split it.")
    async with request.app.state.gate.admitted(intake.urgent([r for _, r in resources])):
        return await _admitted(request, response, resources, subject, access, store)


async def _admitted(request: Request, response: Response, resources: list[tuple[str, Any]],
                    subject, access, store) -> list[dict[str, Any]]:
    who, config = device(subject), request.app.state.welfare
    now = access.now()
    pids = [intake.patient_of(intake.resource(r, where), where) for where, r in resources]
    coverage_store, engine = request.app.state.coverage, request.app.state.engine
    patients: dict[UUID, tuple[str, Any]] = {}
    for pid in pids:
        if pid in patients:
            continue
        facts, technology = await facts_and_technology(engine, pid, who.client_id, now)
        await access.require(subject, Action.write, Resource(patient_id=pid, category=CATEGORY),
                             resources=(CATEGORY,), facts=facts)
        if technology is None:   # the assignment is in the access facts, not here yet
            raise HTTPException(503, "The device's assignment is still being taken in: try "
                                     "again in a moment.", headers={"Retry-After": "1"})
        patients[pid] = (technology, (await coverage_store.current(pid))[0])
    parsed = [(pid, intake.read(r, who.client_id, patients[pid][0], now, where))
              for pid, (where, r) in zip(pids, resources, strict=True)]
    items = []
    for pid, reading in parsed:
        technology, coverage = patients[pid]
        payloads, held = quarantine.intake(coverage, reading)
        task = [quarantine.review_task(pid, reading, config.owner_unit, config.review_within,
                                       now)] if held else []
        items.append(Item(pid, reading.reading_id, payloads,
                          review=quarantine.review_key(technology) if held else None,
                          review_task=task))
    done, last = await store.record(items, actor_of(subject))
    answers = [{"reading_id": str(item.reading_id), "recorded": new,
                "status": _status(item) if new else "already recorded"}
               for item, new in zip(items, done, strict=True)]
    if last is not None:
        written(response, last, {}, 201)
    else:
        response.status_code = 200
    return answers


def _status(item: Item) -> str:
    return "quarantined" if item.review is not None else "accepted"


@router.post("/ingest/{resource_type}", status_code=201)
async def post_one(resource_type: Literal["Observation", "Flag"], body: FhirBody,
                   request: Request, response: Response, subject: CurrentSubject,
                   access: AccessDep, store: IntakeDep, config: ConfigDep) -> dict[str, Any]:
    """One reading: a measurement (``Observation``, VkpObservation: LOINC code, UCUM unit) or
    an event or alarm (``Flag``, vkp-Flag: VKP code and severity 0-3)."""
    if body.get("resourceType") != resource_type:
        raise Invalid(f"resourceType: expected {resource_type}.")
    answer = await _ingest(request, response, [(resource_type, body)], subject, access, store,
                           config)
    return answer[0] | _token(response)


@router.post("/ingest", status_code=200)
async def post_batch(body: FhirBody, request: Request, response: Response,
                     subject: CurrentSubject, access: AccessDep, store: IntakeDep,
                     config: ConfigDep) -> dict[str, Any]:
    """A ``batch`` Bundle of Observations and Flags; the answer is a ``batch-response`` with
    one entry per reading, in order."""
    if body.get("resourceType") != "Bundle" or body.get("type") != "batch":
        raise Invalid("Expected a Bundle of type batch.")
    entries = body.get("entry")
    if not isinstance(entries, list) or not entries:
        raise Invalid("Bundle.entry: expected at least one entry.")
    resources = [(f"Bundle.entry[{i}].resource",
                  e.get("resource") if isinstance(e, dict) else None)
                 for i, e in enumerate(entries)]
    answers = await _ingest(request, response, resources, subject, access, store, config)
    return {"resourceType": "Bundle", "type": "batch-response",
            "entry": [{"response": {"status": "201 Created" if a["recorded"] else "200 OK",
                                    "location": f"Reading/{a['reading_id']}"},
                       "reading": a} for a in answers]} | _token(response)


def _token(response: Response) -> dict[str, Any]:
    token = response.headers.get("X-Consistency-Token")
    return {"consistency_token": token} if token else {}
