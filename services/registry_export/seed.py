"""``ehr registry seed-municipality``: a synthetic municipality through the journal's own API,
so every fact is a real journal event decided by the journal's domain (registration, IPLOS
assessment, application, grant or refusal, diagnoses, a move, a death) with its care relations
and access log. People and their distributions come from ``domain/synthetic.py`` (sources
named there); dates are moved so that every decision lies in the past, an assessment is at most
a year old when a grant rests on it, and a death comes last.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta

import httpx

from services.journal import contract as j
from services.registry_export.domain.synthetic import person_events

Headers = dict[str, str]


class SeedError(RuntimeError):
    pass


async def _ok(call, what: str, *, retry_403_s: float = 30) -> httpx.Response:
    """The answer of a journal call; a 403 waits (bounded) for the case worker's care relation
    (from the registration and the application) to arrive."""
    deadline = asyncio.get_running_loop().time() + retry_403_s
    while True:
        r = await call()
        if r.status_code < 300:
            return r
        if r.status_code != 403 or asyncio.get_running_loop().time() > deadline:
            raise SeedError(f"{what}: HTTP {r.status_code} {r.text[:300]}")
        await asyncio.sleep(0.3)


async def _done(r: httpx.Response) -> httpx.Response:
    return r


async def seed_person(http: httpx.AsyncClient, events: list, case_worker: Headers,
                      today: date) -> Counter:
    done: Counter = Counter()
    pid = str(uuid.uuid4())
    decisions: dict[uuid.UUID, str] = {}
    for e in events:
        match e:
            case j.PatientRegistered():
                r = await http.post("/patients", headers=case_worker, json={
                    "patient_id": pid, "national_id": e.national_id, "sex": e.sex,
                    "name": e.name.model_dump(), "address": e.address.model_dump(
                        exclude_none=True)})
                if r.status_code == 409:   # seeded before (the same seed gives the same ids)
                    return Counter(already_there=1)
                await _ok(lambda r=r: _done(r), "register")
            case j.IplosAssessed():
                at = today - timedelta(days=30)
                await _ok(lambda: http.post(f"/patients/{pid}/assessments", headers=case_worker,
                                            json={"scores": e.scores,
                                                  "assessed_at": f"{at.isoformat()}T10:00:00Z"}),
                          "assess")
            case j.ServiceApplied():
                r = await _ok(lambda: http.post(f"/patients/{pid}/services", headers=case_worker,
                                                json={"service_code": e.service_code,
                                                      "applied_on": min(e.applied_on, today)
                                                      .isoformat()}), "apply")
                decisions[e.decision_id] = r.json()["decision_id"]
            case j.ServiceGranted():
                body = {"from_date": min(e.from_date, today).isoformat(), "provider": e.provider,
                        "scope": e.scope.model_dump(exclude_none=True)}
                if e.to_date is not None:
                    body["to_date"] = max(e.to_date, min(e.from_date, today)).isoformat()
                await _ok(lambda: http.post(
                    f"/patients/{pid}/services/{decisions[e.decision_id]}/grant",
                    headers=case_worker, json=body), "grant")
                done["granted"] += 1
            case j.ServiceRefused():
                await _ok(lambda: http.post(
                    f"/patients/{pid}/services/{decisions[e.decision_id]}/refuse",
                    headers=case_worker, json={"reason": e.reason}), "refuse")
                done["refused"] += 1
            case j.ConditionRecorded():
                await _ok(lambda: http.post(f"/patients/{pid}/conditions", headers=case_worker,
                                            json={"system": e.system, "code": e.code}),
                          "condition")
                done["diagnoses"] += 1
            case j.PatientDetailsChanged() if e.address is not None:
                await _ok(lambda: http.patch(f"/patients/{pid}", headers=case_worker, json={
                    "address": e.address.model_dump(exclude_none=True)}), "move")
                done["moved"] += 1
            case j.PatientDeceased():
                await _ok(lambda: http.post(f"/patients/{pid}/death", headers=case_worker,
                                            json={"deceased_on": min(e.deceased_on, today)
                                                  .isoformat()}), "death")
                done["died"] += 1
    done["persons"] += 1
    return done


async def seed_municipality(http: httpx.AsyncClient, *, persons: int, municipality: str,
                            others: tuple[str, ...], case_worker: Headers,
                            today: date, seed: int = 1, provider: str,
                            progress: Callable[[], None] = lambda: None) -> Counter:
    rng = random.Random(seed)
    total: Counter = Counter()
    for slot in range(persons):
        events = person_events(rng, slot=slot, year=today.year - 1,
                               municipality=municipality, others=others, provider=provider)
        total += await seed_person(http, events, case_worker, today)
        progress()
    return total
