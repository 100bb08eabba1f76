"""The FHIR benchmark's client and workload, the same against both servers (``bench.fhir``):
16 clients (``--clients``) in a closed loop over one FHIR base, four phases:

- **transaction**: a transaction Bundle of 1 Patient and 10 Observations (vital signs: pulse
  and body weight, LOINC), the Observations pointing at the Patient's ``urn:uuid``;
- **create**: one Observation (``POST /Observation``) for a known patient;
- **read**: an Observation by id (``GET /Observation/{id}``);
- **search**: a patient's Observations of one code
  (``GET /Observation?patient={id}&code=http://loinc.org|8867-4``).

Each phase runs its clients for a short warm-up (not counted), then ``seconds`` in which every
request that completes counts (its latency, its status); a phase's figures are its throughput
(answers with a 2xx per second of the window), p50 / p99 and the statuses. The CPU it costs is
measured around it by ``bench.fhir.cpu``. Only 2xx answers count as done: an error is reported
next to the figures, never hidden in them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from time import perf_counter

import aiohttp
import httpx

from bench.fhir.cpu import Load
from bench.util import Counter, pct
from libs.kernel.identifiers import IdentifierSystem, synthetic_number

PHASES = ("transaction", "create", "read", "search")
FHIR_JSON = "application/fhir+json"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
PULSE, WEIGHT = "8867-4", "29463-7"
OBSERVATIONS = 10     # per transaction, beside its Patient
MUNICIPALITY_EXT = "http://hl7.no/fhir/StructureDefinition/no-basis-municipalitycode"
ERROR = 0             # the status of a request that got no answer (timeout, reset)


@dataclass
class Side:
    """One server under test as the client sees it: its FHIR base and the headers of its
    user (ours: a clinician's bearer token; HAPI: none)."""

    name: str
    base: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Known:
    """What a side's set-up and transactions created: patient ids and Observation ids."""

    patients: list[str] = field(default_factory=list)
    observations: list[str] = field(default_factory=list)


@dataclass
class PhaseResult:
    side: str
    phase: str
    seconds: float
    lat: list[float] = field(default_factory=list)    # completed 2xx in the window, s
    status: dict[int, int] = field(default_factory=dict)
    sent: int = 0                                     # with the warm-up
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by role, whole phase
    client_cpu: float = 0.0       # the benchmark's own process while the clients ran, s
    busy: float = 0.0             # share of the machine's cores busy meanwhile, 0..1

    @property
    def rate(self) -> float:
        return len(self.lat) / self.seconds

    def p(self, q: float) -> float:
        return pct(self.lat, q) * 1000

    @property
    def cpu_ms(self) -> float:
        """CPU per request in ms: every counted process's CPU over the whole phase (warm-up
        and the work it left behind included), over every request sent in it."""
        return sum(self.cpu.values()) / max(1, self.sent) * 1000

    @property
    def client_cpu_ms(self) -> float:
        """The client's CPU per request sent, ms: counted for no side (``cpu.Load``)."""
        return self.client_cpu / max(1, self.sent) * 1000

    def as_json(self) -> dict:
        return {"side": self.side, "phase": self.phase, "seconds": self.seconds,
                "rate": self.rate, "completed": len(self.lat), "sent": self.sent,
                "p50_ms": self.p(50), "p99_ms": self.p(99), "max_ms": self.p(100),
                "status": {str(k): v for k, v in self.status.items()},
                "cpu_ms_per_request": self.cpu_ms,
                "client_cpu_ms_per_request": self.client_cpu_ms, "machine_busy": self.busy,
                "cpu_ms_per_request_by_role": {k: v / max(1, self.sent) * 1000
                                               for k, v in self.cpu.items()}}


class People:
    """Synthetic national ids, unique within a run (a random start, then one per patient)."""

    def __init__(self, seed: int | None = None):
        self._n = itertools.count(random.Random(seed).randrange(0, 1_000_000))

    def next(self) -> tuple[str, date]:
        """(national id, birth date) of the next patient."""
        n = next(self._n)
        born = date(1931, 1, 1) + timedelta(days=n % 24_000)
        return synthetic_number(born, n // 24_000 % 40), born


def patient(person: tuple[str, date], n: int) -> dict:
    national_id, born = person
    return {"resourceType": "Patient",
            "identifier": [{"system": IdentifierSystem.FNR, "value": national_id}],
            "name": [{"family": f"Benk {n}", "given": ["Solveig"]}], "gender": "female",
            "birthDate": born.isoformat(),
            "address": [{"line": ["Fjordveien 2"], "postalCode": "5003", "city": "Bergen",
                         "_district": {"extension": [{
                             "url": MUNICIPALITY_EXT,
                             "valueCoding": {"system": IdentifierSystem.MUNICIPALITY,
                                             "code": "4601"}}]}}]}


def observation(subject: str, k: int, at: datetime) -> dict:
    """A vital sign: pulse (even k) or body weight (odd k), ``k`` minutes before ``at``."""
    code, value, unit = (PULSE, 60 + k % 30, "/min") if k % 2 == 0 else (WEIGHT, 60 + k % 20,
                                                                        "kg")
    return {"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                "observation-category", "code": "vital-signs"}]}],
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "subject": {"reference": subject},
            "effectiveDateTime": (at - timedelta(minutes=k)).isoformat(),
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}}


def transaction(person: tuple[str, date], n: int) -> dict:
    now, entries = datetime.now(UTC), []
    entries.append(("urn:uuid:p", patient(person, n)))
    entries += [(f"urn:uuid:o{k}", observation("urn:uuid:p", k, now))
                for k in range(OBSERVATIONS)]
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": url, "resource": r, "request": {"method": "POST", "url": r["resourceType"]}}
        for url, r in entries]}


def _ids(answer: dict) -> tuple[str, list[str]]:
    """(patient id, Observation ids) from a transaction-response's locations."""
    pid, obs = "", []
    for e in answer.get("entry", []):
        kind, rid = e["response"]["location"].split("/")[:2]
        if kind == "Patient":
            pid = rid
        elif kind == "Observation":
            obs.append(rid)
    return pid, obs


Request = Callable[["Sender", int], Awaitable[int]]


def requests(side: Side, known: Known, people: People) -> dict[str, Request]:
    """The four phases' requests; request ``i`` of a phase picks its patient or Observation
    round-robin over what the set-up created (the same count on both sides)."""
    body = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}

    async def tx(http: Sender, i: int) -> int:
        return await http.post("", transaction(people.next(), i), body)

    async def create(http: Sender, i: int) -> int:
        subject = f"Patient/{known.patients[i % len(known.patients)]}"
        return await http.post("Observation", observation(subject, i, datetime.now(UTC)), body)

    async def read(http: Sender, i: int) -> int:
        return await http.get(
            f"Observation/{known.observations[i * 7919 % len(known.observations)]}",
            {"Accept": FHIR_JSON})

    async def search(http: Sender, i: int) -> int:
        return await http.get("Observation", {"Accept": FHIR_JSON}, {
            "patient": known.patients[i % len(known.patients)], "code": f"{LOINC}|{PULSE}"})

    return {"transaction": tx, "create": create, "read": read, "search": search}


class Sender:
    """What the phases send with: a FHIR base's path, a JSON body or query, the headers;
    the answer's status (its body read and dropped). ``CLIENTS`` names the two kinds."""

    async def get(self, path: str, headers: dict, params: dict | None = None) -> int:
        raise NotImplementedError

    async def post(self, path: str, body: dict, headers: dict) -> int:
        raise NotImplementedError


class HttpxSender(Sender):
    """httpx, the client of the issue's figures since the first run (a pure-Python HTTP
    stack: 2–7 ms of CPU a request here, up to a whole core at HAPI's read rate)."""

    def __init__(self, http: httpx.AsyncClient):
        self.http = http

    async def get(self, path: str, headers: dict, params: dict | None = None) -> int:
        return (await self.http.get(path, headers=headers, params=params)).status_code

    async def post(self, path: str, body: dict, headers: dict) -> int:
        return (await self.http.post(path, json=body, headers=headers)).status_code


class AiohttpSender(Sender):
    """aiohttp, as the REST benchmarks use (its HTTP parser in C): less of the machine for
    the client, more for the servers."""

    def __init__(self, session: aiohttp.ClientSession, base: str):
        self.session, self.base = session, base.rstrip("/") + "/"

    async def get(self, path: str, headers: dict, params: dict | None = None) -> int:
        async with self.session.get(self.base + path, headers=headers, params=params) as r:
            await r.read()
            return r.status

    async def post(self, path: str, body: dict, headers: dict) -> int:
        async with self.session.post(self.base + path, json=body, headers=headers) as r:
            await r.read()
            return r.status


CLIENTS = ("httpx", "aiohttp")
SEND_ERRORS = (httpx.HTTPError, aiohttp.ClientError, asyncio.TimeoutError)


@contextlib.asynccontextmanager
async def sender(side: Side, clients: int, kind: str,
                 http: httpx.AsyncClient) -> AsyncIterator[Sender]:
    """The phases' client of ``kind`` (``CLIENTS``) for a side; ``http`` (the set-up's) is
    the httpx one."""
    if kind == "httpx":
        yield HttpxSender(http)
        return
    if kind != "aiohttp":
        raise ValueError(f"client: one of {', '.join(CLIENTS)}")
    async with aiohttp.ClientSession(
            headers=side.headers, timeout=aiohttp.ClientTimeout(total=120),
            connector=aiohttp.TCPConnector(limit=clients)) as session:
        yield AiohttpSender(session, side.base)


def client(side: Side, clients: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=side.base.rstrip("/") + "/", headers=side.headers,
                             timeout=httpx.Timeout(120),
                             limits=httpx.Limits(max_connections=clients,
                                                 max_keepalive_connections=clients))


async def closed_loop(http: Sender, side: str, phase: str, send: Request,
                      clients: int, seconds: float, warmup: float,
                      counter: Counter | None = None) -> PhaseResult:
    """``clients`` workers, each sending its next request when its last one is answered;
    requests completing in the ``seconds`` after ``warmup`` count. The machine's load and the
    client's own CPU are measured over the whole loop (``cpu.Load``)."""
    res = PhaseResult(side, phase, seconds)
    load = Load()
    t0 = perf_counter()
    start, end = t0 + warmup, t0 + warmup + seconds
    seq = itertools.count()

    async def worker() -> None:
        while (a := perf_counter()) < end:
            res.sent += 1
            try:
                status = await send(http, next(seq))
            except SEND_ERRORS:
                status = ERROR
            b = perf_counter()
            if counter is not None:
                counter.n += 1
            if start <= b <= end:
                res.status[status] = res.status.get(status, 0) + 1
                if 200 <= status < 300:
                    res.lat.append(b - a)

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(clients))),
                           warmup + seconds + 300)
    res.busy, res.client_cpu = load.stop()
    return res
