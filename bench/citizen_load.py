"""The citizen benchmark's measurements (``bench/citizen.py``), each with its baseline in the
same run:

- **pages**: an open loop (request *i* due at *t0 + i/rate*, sent then whatever is in flight,
  latency from its due time, so queueing shows) over the patients' signed-in portal pages
  (``/record``, ``/medicines``, with the session cookie), and the same over the raw baseline's
  pages (``/raw/record/{id}``, ``/raw/medicines/{id}``) on the same rows; both on up to
  ``CONNECTIONS`` kept-alive connections (opening hundreds at once overflows the listen
  backlog and measures the kernel's SYN retries instead);
- **freshness**: the GP reads a patient's record in the journal (``GET /patients/{id}``) in an
  open loop; each read is logged on ``audit.access`` by the journal and projected by the citizen
  service into ``citizen_access_log``, which its "who looked at my record" page and API read.
  The *k*-th read of a patient counts as visible once that patient has *k* entries by the GP
  there; latency from the read's due time. Baseline: an aiokafka producer (acks=all) and
  consumer on a topic with the same partitions and configuration as ``audit.access``, at the
  same rate, from the send's due time to the record's arrival at the consumer.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from time import perf_counter

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition
from sqlalchemy import text

from bench.infra import Deadline
from bench.util import Counter, pct

Send = Callable[[aiohttp.ClientSession, int], Awaitable[int]]
ERROR = 0
CONNECTIONS = 64  # beyond, a request waits in the client (and that wait counts)


@dataclass
class Series:
    """One measured series: (due time since start, latency) of each request, and statuses."""

    label: str
    rate: float
    points: list[tuple[float, float]] = field(default_factory=list)
    status: dict[int, int] = field(default_factory=dict)
    max_slip_ms: float = 0.0

    def p(self, q: float) -> float:
        return pct([lat for _, lat in self.points], q) * 1000 if self.points else float("nan")

    def as_json(self) -> dict:
        return {"label": self.label, "rate": self.rate, "samples": len(self.points),
                "p50_ms": self.p(50), "p99_ms": self.p(99), "max_ms": self.p(100),
                "status": {str(k): v for k, v in self.status.items()},
                "max_slip_ms": self.max_slip_ms,
                "points": [[round(t, 4), round(lat * 1000, 2)] for t, lat in self.points]}


async def _due_loop(t0: float, rate: float, seconds: float,
                    fire: Callable[[int, float], Awaitable[None]], counter: Counter,
                    series: Series) -> None:
    """Call ``fire(i, due)`` for request *i* at its due time *t0 + i/rate*."""
    tasks = []

    async def one(i: int, due: float) -> None:
        await fire(i, due)
        counter.n += 1

    for i in range(int(rate * seconds)):
        due = t0 + i / rate
        if (delay := due - perf_counter()) > 0:
            await asyncio.sleep(delay)
        series.max_slip_ms = max(series.max_slip_ms, (perf_counter() - due) * 1000)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.wait_for(asyncio.gather(*tasks), 300)


def start_time() -> float:
    return perf_counter() + 0.05


async def open_loop(port: int, label: str, send: Send, rate: float, seconds: float,
                    warmup: float, counter: Counter) -> Series:
    """Requests due at *t0 + i/rate*; those due after the warm-up count."""
    s = Series(label, rate)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}",
                                     connector=aiohttp.TCPConnector(limit=CONNECTIONS),
                                     timeout=aiohttp.ClientTimeout(total=120)) as http:
        t0 = start_time()

        async def fire(i: int, due: float) -> None:
            try:
                status = await send(http, i)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                status = ERROR
            if due - t0 >= warmup:
                s.points.append((due - t0, perf_counter() - due))
                s.status[status] = s.status.get(status, 0) + 1

        await _due_loop(t0, rate, seconds + warmup, fire, counter, s)
    s.points.sort()
    return s


def page(path: str, patients: list[str], cookies: list[str]) -> Send:
    """The portal page ``path`` of patient *i mod n*, signed in with their session."""
    async def send(http: aiohttp.ClientSession, i: int) -> int:
        async with http.get(path, headers={"Cookie": cookies[i % len(cookies)]},
                            allow_redirects=False) as r:
            await r.read()
            return r.status
    return send


def raw_page(path: str, patients: list[str]) -> Send:
    async def send(http: aiohttp.ClientSession, i: int) -> int:
        async with http.get(f"{path}/{patients[i % len(patients)]}") as r:
            await r.read()
            return r.status
    return send


# --- freshness ---------------------------------------------------------------------------------

async def _seen(engine, hpr: str) -> dict[str, int]:
    async with engine.connect() as conn:
        return {str(p): n for p, n in await conn.execute(text(
            "SELECT patient_id, count(*) FROM citizen_access_log WHERE doc->>'hpr' = :h "
            "GROUP BY patient_id"), {"h": hpr})}


async def freshness(port: int, gp: str, hpr: str, patients: list[str], engine, rate: float,
                    seconds: float, counter: Counter) -> Series:
    """The GP's journal reads at ``rate``; each until its entry is in the citizen's read model
    (polled every 10 ms). Every read is counted (the first second is not left out)."""
    s = Series("journal read -> citizen's 'who looked' read model", rate)
    before = await _seen(engine, hpr)
    due: dict[str, list[float]] = {p: [] for p in patients}
    done = asyncio.Event()

    async def watch() -> None:
        done_k = {p: 0 for p in patients}
        deadline = Deadline(seconds + 120, "every read in the citizen's read model")
        while True:
            seen, now = await _seen(engine, hpr), perf_counter()
            for p in patients:
                while done_k[p] < min(len(due[p]), seen.get(p, 0) - before.get(p, 0)):
                    s.points.append((due[p][done_k[p]], now - due[p][done_k[p]]))
                    done_k[p] += 1
            if done.is_set() and all(done_k[p] == len(due[p]) for p in patients):
                return
            deadline.check()
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}",
                                     headers={"Authorization": f"Bearer {gp}"},
                                     timeout=aiohttp.ClientTimeout(total=120)) as http:
        async def fire(i: int, at: float) -> None:
            p = patients[i % len(patients)]
            due[p].append(at)
            async with http.get(f"/patients/{p}") as r:
                await r.read()
                s.status[r.status] = s.status.get(r.status, 0) + 1

        t0 = start_time()
        await _due_loop(t0, rate, seconds, fire, counter, s)
    done.set()
    await watcher
    s.points = sorted((at - t0, lat) for at, lat in s.points)
    return s


async def kafka_baseline(bootstrap: str, topic: str, rate: float, seconds: float,
                         counter: Counter) -> Series:
    """aiokafka produce (acks=all) -> consume on ``topic``, at ``rate``, keyed by a random
    patient id as the access log is."""
    s = Series("raw aiokafka produce -> consume (audit.access's configuration)", rate)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await consumer.start()
    await producer.start()
    try:
        parts = [TopicPartition(topic, p) for p in
                 await asyncio.wait_for(producer.partitions_for(topic), 30)]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        for tp in parts:
            await consumer.position(tp)
        sent: dict[int, float] = {}
        n = int(rate * seconds)

        async def consume() -> None:
            deadline = Deadline(seconds + 120, "every record consumed")
            while len(s.points) < n:
                batch = await consumer.getmany(timeout_ms=100)
                now = perf_counter()
                for records in batch.values():
                    for rec in records:
                        i = json.loads(rec.value)["i"]
                        s.points.append((sent[i], now - sent[i]))
                deadline.check()

        reader = asyncio.create_task(consume())

        async def fire(i: int, at: float) -> None:
            sent[i] = at
            await producer.send_and_wait(topic, json.dumps({"i": i}).encode(),
                                         key=uuid.uuid4().bytes)
            s.status[200] = s.status.get(200, 0) + 1  # "200": acknowledged by every replica

        t0 = start_time()
        await _due_loop(t0, rate, seconds, fire, counter, s)
        await reader
    finally:
        await producer.stop()
        await consumer.stop()
    s.points = sorted((at - t0, lat) for at, lat in s.points)
    return s

