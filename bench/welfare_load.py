"""The welfare benchmark's measurements (``bench/welfare.py``), each with its baseline in the
same run:

- **ingestion**: ``clients`` gateways post batches of ``batch`` readings (SpO2 and heart rate
  of their tablets) to ``/ingest`` back to back for ``seconds``: readings acknowledged (201)
  per second. Baseline: an aiokafka producer (acks=all) sending the same FHIR payloads, one
  record per reading, batch by batch with the same concurrency, to a topic configured as
  ``welfare.events``.
- **device event -> worklist**: an open loop of ``rate`` readings/s from every device, each
  device sending its readings as one batch (batch *k* due at *t0 + k·batch/rate*, sent then
  whatever is in flight, latency from its due time; every body is encoded before the clock
  starts). About one reading a second is a button
  alarm (VKP 4.13): the worker raises a red alert and a response task, the journal folds it from
  ``welfare.events``, and the home-care nurse's ``GET /worklist`` (polled every ``POLL_S``)
  shows it; latency from the alarm's batch's due time to the first poll that shows it, and
  that time split into stages (``STAGES``) from the welfare service's store. Event
  time runs ``speed`` times faster than the clock (the readings are back-dated), so a run
  covers a day of readings and the SpO2 windows (6 h) close and are evicted. Baseline: raw
  aiokafka produce -> consume at the same rate (``bench.citizen_load.kafka_baseline``).
- **worker memory**: the faust worker's RSS sampled every second through that run, next to
  the same worker idle before it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from time import perf_counter

import aiohttp
from aiokafka import AIOKafkaProducer

from bench.citizen_load import Series
from bench.infra import Deadline
from bench.util import Counter, pct
from bench.welfare_servers import rss_mb
from bench.welfare_setup import Welfare, alarm_stages
from services.welfare.domain import codes
from services.welfare.domain.intake import reading_id

POLL_S = 0.2
PROBE_PER_S = 1.0


STAGES = ("due -> recorded by the welfare API", "-> published by its relay",
          "-> alert recorded by the worker", "-> published by the relay",
          "-> seen on the nurse's worklist")
"""An alarm's way, stage by stage (the times from the welfare service's store, the first and
the last from the load generator's clock)."""


@dataclass
class AlarmSeries(Series):
    """The latency loop's series, with the answers to the batches that carried an alarm apart
    (a red alarm has its own lane through back-pressure: ``services/welfare/http/pressure.py``)
    and where the alarms' time went (``STAGES``: p50 / p90 / max ms of each)."""

    alarm_status: dict[int, int] = field(default_factory=dict)
    stages: dict[str, dict[str, float]] = field(default_factory=dict)
    resolved_status: dict[int, int] = field(default_factory=dict)

    def as_json(self) -> dict:
        return super().as_json() | {
            "alarm_status": {str(k): v for k, v in self.alarm_status.items()},
            "stages": self.stages,
            "resolved_status": {str(k): v for k, v in self.resolved_status.items()}}


@dataclass
class Throughput:
    label: str
    readings: int = 0
    seconds: float = 0.0
    status: dict[int, int] = field(default_factory=dict)
    cpu_s: float | None = None   # CPU of the welfare service (API + background), if measured

    @property
    def per_s(self) -> float:
        return self.readings / self.seconds if self.seconds else 0.0

    def as_json(self) -> dict:
        cpu = (self.cpu_s * 1000 / self.readings) if self.cpu_s and self.readings else None
        return {"label": self.label, "readings": self.readings, "seconds": self.seconds,
                "readings_per_s": self.per_s, "cpu_ms_per_reading": cpu,
                "status": {str(k): v for k, v in self.status.items()}}


def _observation(patient: str, event_id: str, at: datetime, code: str, value: float,
                 unit: str) -> dict:
    return {"resourceType": "Observation", "status": "final",
            "identifier": [{"value": event_id}],
            "code": {"coding": [{"system": codes.LOINC, "code": code}]},
            "subject": {"reference": f"Patient/{patient}"},
            "effectiveDateTime": at.isoformat(),
            "valueQuantity": {"value": value, "unit": unit, "system": codes.UCUM, "code": unit}}


def _alarm(patient: str, event_id: str, at: datetime) -> dict:
    return {"resourceType": "Flag", "status": "active", "identifier": [{"value": event_id}],
            "code": {"coding": [{"system": codes.ALERT_SYSTEM, "code": "4.13"}]},
            "subject": {"reference": f"Patient/{patient}"}, "period": {"start": at.isoformat()},
            "extension": [{"url": codes.SEVERITY_EXTENSION, "valueInteger": 3}]}


def readings(patient: str, device: str, tag: str, seq: int, n: int, at: datetime,
             rnd: random.Random) -> list[dict]:
    """A tablet's ``n`` buffered readings: SpO2 (one in ten low, 90 %) and heart rate."""
    out = []
    for j in range(n):
        when, eid = at + timedelta(seconds=j), f"{tag}-{seq}-{j}"
        if j % 2:
            out.append(_observation(patient, eid, when, "8867-4", rnd.randint(55, 95), "/min"))
        else:
            out.append(_observation(patient, eid, when, codes.SPO2,
                                    90 if rnd.random() < 0.1 else rnd.randint(94, 99), "%"))
    return out


def bundle(resources: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": r, "request": {"method": "POST", "url": r["resourceType"]}}
        for r in resources]}


Send = Callable[[str, str, list[dict]], Awaitable[int]]


async def _closed_loop(c: Welfare, t: Throughput, seconds: float, batch: int, clients: int,
                       tag: str, counter: Counter, send: Send) -> Throughput:
    """``clients`` senders, each sending one device's batch after another for ``seconds``
    (``send(device, patient, resources)`` answers a status; 201 and 200 count as taken)."""
    devices, rnd, at = list(c.devices), random.Random(1), datetime.now(UTC) - timedelta(days=3)

    async def gateway(g: int) -> None:
        seq, end = 0, t0 + seconds
        while perf_counter() < end:
            device = devices[(g + seq * clients) % len(devices)]
            patient = c.devices[device]
            status = await send(device, patient,
                                readings(patient, device, f"{tag}{g}", seq, batch, at, rnd))
            t.status[status] = t.status.get(status, 0) + 1
            if status in (200, 201):
                t.readings += batch
                counter.n += batch
            seq += 1

    t0 = perf_counter()
    await asyncio.gather(*(gateway(g) for g in range(clients)))
    t.seconds = perf_counter() - t0
    return t


async def ingestion(c: Welfare, seconds: float, batch: int, clients: int,
                    counter: Counter) -> Throughput:
    t = Throughput(f"POST /ingest, batches of {batch}, {clients} gateways")
    async with aiohttp.ClientSession(f"http://127.0.0.1:{c.ports['welfare']}",
                                     connector=aiohttp.TCPConnector(limit=clients),
                                     timeout=aiohttp.ClientTimeout(total=120)) as http:
        async def send(device: str, patient: str, resources: list[dict]) -> int:
            async with http.post("/ingest", json=bundle(resources), headers={
                    "Authorization": f"Bearer {c.tokens[device]}"}) as r:
                await r.read()
                return r.status

        return await _closed_loop(c, t, seconds, batch, clients, "a", counter, send)


async def raw_produce(c: Welfare, bootstrap: str, seconds: float, batch: int, clients: int,
                      counter: Counter) -> Throughput:
    """The same payloads, one record per reading keyed by the patient, acknowledged by every
    replica ("200") once the whole batch is."""
    t = Throughput(f"raw aiokafka produce (acks=all), batches of {batch}, {clients} at once")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    try:
        async def send(device: str, patient: str, resources: list[dict]) -> int:
            sent = [await producer.send(c.topics["raw"], json.dumps(r).encode(),
                                        key=patient.encode()) for r in resources]
            await asyncio.gather(*sent)
            return 200

        return await _closed_loop(c, t, seconds, batch, clients, "r", counter, send)
    finally:
        await producer.stop()


async def _poll(c: Welfare, due: dict[str, float], s: AlarmSeries, t0: float,
                sent: asyncio.Event, seen_at: dict[str, float]) -> None:
    """The nurse's worklist, every POLL_S, from the loop's start (a task is seen when it comes,
    not after the last send) until every alarm's task that was taken is seen. The nurse then
    resolves the alarm (on the welfare service, which closes its task), as a nurse would: a
    worklist growing by an open task a second would make every poll, and its access log, longer
    as the run goes on (in a ten-minute run the alarms' p50 crept from 545 to 910 ms with 600
    open tasks)."""
    seen: set[str] = set()
    deadline: Deadline | None = None
    resolving: list[asyncio.Task] = []
    auth = {"Authorization": f"Bearer {c.nurse}"}
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{c.ports['journal']}", timeout=timeout,
                                     headers=auth) as http, \
            aiohttp.ClientSession(f"http://127.0.0.1:{c.ports['welfare']}", timeout=timeout,
                                  headers=auth) as welfare:

        async def resolve(task: dict) -> None:
            async with welfare.post(f"/patients/{task['patient_id']}/alerts/{task['alert_id']}"
                                    "/resolve", json={"note": "Tilsett, i orden."}) as r:
                s.resolved_status[r.status] = s.resolved_status.get(r.status, 0) + 1

        while not (sent.is_set() and seen >= due.keys()):
            async with http.get("/worklist") as r:
                tasks = (await r.json())["tasks"] if r.status == 200 else []
            now = perf_counter()
            for task in tasks:
                rid = (task.get("reading_ids") or [None])[0]
                if rid in due and rid not in seen:
                    seen.add(rid)
                    seen_at[rid] = now
                    s.points.append((due[rid] - t0, now - due[rid]))
                    if task.get("alert_id"):
                        resolving.append(asyncio.create_task(resolve(task)))
            if sent.is_set():
                deadline = deadline or Deadline(300, "every alarm's task on the worklist")
                deadline.check()
            await asyncio.sleep(POLL_S)
        await asyncio.gather(*resolving)
    s.points.sort()


def _batch(c: Welfare, device: str, k: int, n: int, probe_every: int, when: datetime,
           rnd: random.Random) -> tuple[str, bytes, str | None]:
    """Batch *k* of the latency loop, encoded before the clock starts (so the load
    generator's own CPU, on the machine under test, stays small): (device, body, the reading
    id of its alarm if it carries one)."""
    patient = c.devices[device]
    body, probe = readings(patient, device, "b", k, n, when, rnd), None
    if k % probe_every == 0:
        eid = f"alarm-{k}"
        body[-1] = _alarm(patient, eid, when)
        probe = str(reading_id(device, eid))
    return device, json.dumps(bundle(body)).encode(), probe


async def latency(c: Welfare, rate: float, seconds: float, batch: int, speed: float,
                  counter: Counter, rss: list[tuple[float, float]]) -> AlarmSeries:
    s = AlarmSeries(f"alarm in a batch -> task on GET /worklist ({len(c.devices)} devices, "
               f"batches of {batch})", rate)
    devices, rnd = list(c.devices), random.Random(2)
    batches = int(rate * seconds / batch)
    probe_every = max(1, round(rate / batch / PROBE_PER_S))
    start = datetime.now(UTC) - timedelta(seconds=seconds * speed + 60)
    due: dict[str, float] = {}
    bodies = [_batch(c, devices[k % len(devices)], k, batch, probe_every,
                     start + timedelta(seconds=k * batch / rate * speed), rnd)
              for k in range(batches)]
    async with aiohttp.ClientSession(f"http://127.0.0.1:{c.ports['welfare']}",
                                     connector=aiohttp.TCPConnector(limit=64),
                                     timeout=aiohttp.ClientTimeout(total=120)) as http:
        t0 = perf_counter() + 0.05

        async def sample() -> None:
            while True:
                rss.append((perf_counter() - t0, rss_mb(c.worker_pid)))
                await asyncio.sleep(1)

        async def fire(k: int, at: float) -> None:
            device, body, probe = bodies[k]
            if probe is not None:
                due[probe] = at
            try:
                async with http.post("/ingest", data=body, headers={
                        "Authorization": f"Bearer {c.tokens[device]}",
                        "Content-Type": "application/json"}) as r:
                    await r.read()
                    status = r.status
            except (aiohttp.ClientError, asyncio.TimeoutError):
                status = 0
            s.status[status] = s.status.get(status, 0) + 1
            if probe is not None:
                s.alarm_status[status] = s.alarm_status.get(status, 0) + 1
                if status != 201:   # not taken (429): no task to wait for
                    due.pop(probe, None)
            counter.n += batch

        sent, seen_at = asyncio.Event(), {}
        sampler = asyncio.create_task(sample())
        poller = asyncio.create_task(_poll(c, due, s, t0, sent, seen_at))
        try:
            tasks = []
            for k in range(batches):
                at = t0 + k * batch / rate
                if (delay := at - perf_counter()) > 0:
                    await asyncio.sleep(delay)
                s.max_slip_ms = max(s.max_slip_ms, (perf_counter() - at) * 1000)
                tasks.append(asyncio.create_task(fire(k, at)))
            await asyncio.wait_for(asyncio.gather(*tasks), 300)
            sent.set()
            await poller
        finally:
            sampler.cancel()
            poller.cancel()
    s.stages = await _stages(c, due, seen_at, time.time() - perf_counter())
    return s


async def _stages(c: Welfare, due: dict[str, float], seen_at: dict[str, float],
                  wall: float) -> dict[str, dict[str, float]]:
    """Where each alarm's time went (``STAGES``; ``wall`` turns the loop's clock into epoch
    seconds): p50 / p90 / max ms of each stage over the alarms seen on the worklist."""
    found = await alarm_stages(c, list(seen_at))
    steps: list[list[float]] = [[] for _ in STAGES]
    for rid, times in found.items():
        marks = [due[rid] + wall, *times, seen_at[rid] + wall]
        for n, (a, b) in enumerate(itertools.pairwise(marks)):
            steps[n].append((b - a) * 1000)
    return {name: {"n": len(v), "p50": pct(v, 50), "p90": pct(v, 90), "max": max(v)}
            for name, v in zip(STAGES, steps, strict=True) if v}


async def idle_rss(c: Welfare, seconds: float) -> list[tuple[float, float]]:
    out, t0 = [], perf_counter()
    while (t := perf_counter() - t0) < seconds:
        out.append((t, rss_mb(c.worker_pid)))
        await asyncio.sleep(1)
    return out
