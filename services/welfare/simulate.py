"""``ehr welfare simulate``: device traffic through the real APIs, as a municipality's
devices would send it. People are registered in the journal (as the allocation office), given a
care relation for the home-care unit (its leader assigns it, in the consent service), their
devices assigned (a nurse, in the consent service) and their consent recorded (a nurse, in the
welfare service); then each device posts its readings (``domain/simulation.py``) in batches,
honouring 429 and 503 with their ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import httpx

from libs.kernel.identifiers import synthetic_number
from services.welfare.domain.simulation import TECHNOLOGIES, SimDevice, traffic

Headers = dict[str, str]
BATCH = 50


class SimulationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Clients:
    journal: httpx.AsyncClient
    consent: httpx.AsyncClient
    welfare: httpx.AsyncClient
    case_worker: Headers
    leader: Headers
    nurse: Headers
    device: Callable[[str], Headers]


async def _ok(call, what: str, *, retry_s: float = 30) -> httpx.Response:
    """The answer; a 403 (a care relation on its way), a 429 or a 503 is tried again,
    bounded."""
    deadline = asyncio.get_running_loop().time() + retry_s
    while True:
        r = await call()
        if r.status_code < 300:
            return r
        if r.status_code not in (403, 429, 503) or \
                asyncio.get_running_loop().time() > deadline:
            raise SimulationError(f"{what}: HTTP {r.status_code} {r.text[:300]}")
        await asyncio.sleep(float(r.headers.get("Retry-After", "0.3")))


async def person(c: Clients, rnd: random.Random, unit: str, devices: int) -> list[SimDevice]:
    born = date(rnd.randint(1930, 1950), rnd.randint(1, 12), rnd.randint(1, 28))
    body = {"national_id": synthetic_number(born, rnd.randint(0, 400)),
            "name": {"given": rnd.choice(("Astrid", "Olav", "Ingrid", "Per", "Solveig")),
                     "family": rnd.choice(("Hansen", "Johansen", "Olsen", "Larsen"))},
            "sex": rnd.choice(("female", "male")),
            "address": {"lines": ["Storgata 1"], "postal_code": "0155", "city": "Oslo",
                        "municipality": "0301"}}
    r = await c.journal.post("/patients", json=body, headers=c.case_worker)
    if r.status_code == 409:   # the number is taken: another try with another one
        return await person(c, rnd, unit, devices)
    pid = (await _ok(lambda: _done(r), "register")).json()["patient_id"]
    await _ok(lambda: c.consent.post(
        f"/patients/{pid}/care-relations", headers=c.leader,
        json={"purpose": "velferdsteknologi", "basis": "referral",
              "reason": "simulert hjemmetjeneste"}), "care relation")
    out = []
    for i in range(devices):
        d = SimDevice(f"sim-{pid}-{i}", TECHNOLOGIES[i % len(TECHNOLOGIES)], pid)
        await _ok(lambda d=d: c.consent.post(f"/patients/{pid}/devices", headers=c.nurse,
                                             json={"client_id": d.client_id,
                                                   "technology": d.technology}), "assign")
        await _ok(lambda d=d: c.welfare.post(f"/patients/{pid}/coverage", headers=c.nurse, json={
            "technology": d.technology, "basis": "consent",
            "decision_ref": "simulert samtykke",
            "valid_from": "2020-01-01T00:00:00+00:00"}), "coverage")
        out.append(d)
    return out


async def _done(r: httpx.Response) -> httpx.Response:
    return r


async def simulate(c: Clients, *, devices: int, minutes: int, seed: int, unit: str,
                   progress: Callable[[int, int], None]) -> tuple[dict[str, int], list[str]]:
    """Set up the people and devices, then send ``minutes`` of traffic ending now; returns
    what was sent and how it was taken, and the people's ids."""
    rnd = random.Random(seed)
    fleet: list[SimDevice] = []
    while len(fleet) < devices:
        fleet += await person(c, rnd, unit, min(len(TECHNOLOGIES), devices - len(fleet)))
    start = datetime.now(UTC) - timedelta(minutes=minutes)
    plans = [(d, traffic(d, rnd, start, minutes)) for d in fleet]
    total = sum(len(p) for _, p in plans)
    counts = {"devices": len(fleet), "readings": total, "recorded": 0, "repeated": 0}
    progress(0, total)
    for d, readings in plans:
        for i in range(0, len(readings), BATCH):
            part = readings[i:i + BATCH]
            bundle = {"resourceType": "Bundle", "type": "batch",
                      "entry": [{"resource": x} for x in part]}
            r = await _ok(lambda b=bundle, d=d: c.welfare.post(
                "/ingest", json=b, headers=c.device(d.client_id)), "ingest", retry_s=120)
            for e in r.json()["entry"]:
                counts["recorded" if e["reading"]["recorded"] else "repeated"] += 1
            progress(len(part), total)
    return counts, sorted({d.patient_id for d in fleet})
