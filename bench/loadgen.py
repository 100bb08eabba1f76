"""The load generator the service benchmarks share (the journal's and the medication
service's): closed and open loops over aiohttp, the windows they measure, the rows they report,
and starting a server under test in its own process.

Open loop: request *i* is due at *t0 + i/rate* and sent then, whatever is in flight; its latency
counts from when it was due (a slow client or server cannot hide queueing). Each window has a
warm-up before it that is not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import shutil
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from time import perf_counter

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.citizen_profile import without_machine_paths
from bench.infra import Deadline, loadavg
from bench.report import Row
from bench.servers import BACKGROUND_READY
from bench.util import Child, CpuMeter, _proc_cpu, cpu_text, pct, tracked
from libs.config import REPO_ROOT
from libs.devstack.procs import port_open
from libs.events.consistency import ConsistencyToken, wait_until_applied

if TYPE_CHECKING:   # the journal's and the medication's windows: slot(k) and tokens
    from bench.journal import Target

CLIENTS, OPEN_CONNECTIONS = 32, 512
SERVER = "server"   # the CpuMeter role of the server's processes (and the prefix of the second)
WARMUP_S, WINDOW_S, RATE_S = 2.0, 10.0, 18.0  # warm-up, closed-loop window, open-loop window


class JRow(Row):  # report.Row formats ev/s and ms; these rows also notes/s and reads/s
    def fmt(self, v: float | None) -> str:
        if v is None or self.unit in ("ev/s", "ms"):
            return super().fmt(v)
        return f"{v:,.0f} {self.unit}"

    @property
    def ratio(self) -> str:
        if self.unit.endswith("/s") and self.value is not None and self.baseline:
            return f"{self.value / self.baseline * 100:.0f} %"
        return super().ratio


@dataclass
class Window:
    """One measured window: latencies (s) of the requests counted, their statuses."""

    kind: str                       # "closed" or "open"
    seconds: float
    lat: list[float] = field(default_factory=list)
    status: dict[int, int] = field(default_factory=dict)
    sent: int = 0
    wall: float = 0.0
    offered: float = 0.0            # open loop
    achieved: float = 0.0           # open loop: requests due in the window / time to serve them
    max_slip_ms: float = 0.0        # open loop: latest send behind its due time
    cpu: dict[str, float] = field(default_factory=dict)
    load: str = ""                  # load average at the end of the window
    parts: list[Window] = field(default_factory=list)   # the windows ``joined`` made it of

    @classmethod
    def joined(cls, *windows: Window) -> Window:
        """Closed-loop windows as one: their requests, statuses and time together (the rate is
        their mean), each process's share of a core weighted by its window's length."""
        wall = sum(w.wall for w in windows)
        cpu: dict[str, float] = {}
        for w in windows:
            for role, share in w.cpu.items():
                cpu[role] = cpu.get(role, 0.0) + share * w.wall / wall
        status: dict[int, int] = {}
        for w in windows:
            for code, n in w.status.items():
                status[code] = status.get(code, 0) + n
        return cls("closed", sum(w.seconds for w in windows),
                   [x for w in windows for x in w.lat], status, sum(w.sent for w in windows),
                   wall, cpu=cpu, load=windows[-1].load, parts=list(windows))

    @property
    def rate(self) -> float:
        return len(self.lat) / self.seconds if self.kind == "closed" else self.achieved

    def p(self, q: float) -> float:
        return pct(self.lat, q) * 1000

    @property
    def ok(self) -> bool:
        return set(self.status) <= {200, 201}

    @property
    def cpu_ms(self) -> float:
        """The server's CPU per request sent (warm-up included), in ms: its API process and,
        for ours, the process of its relay and projections (``Server.roles``)."""
        used = sum(v for k, v in self.cpu.items() if k.startswith(SERVER))
        return used * self.wall / max(1, self.sent) * 1000

    def text(self, unit: str) -> str:
        each = f" (windows {' / '.join(f'{w.rate:,.0f}' for w in self.parts)})" \
            if self.parts else ""
        head = (f"{self.rate:,.0f} {unit}{each}" if self.kind == "closed" else
                f"offered {self.offered:,.0f}/s, achieved {self.achieved:,.0f}/s, latest send "
                f"{self.max_slip_ms:.1f} ms behind schedule")
        return (f"{head}, p50 {self.p(50):.1f} / p99 {self.p(99):.1f} / max {self.p(100):.1f} ms,"
                f" {self.status}, {self.sent:,} sent (with warm-up); server CPU "
                f"{self.cpu_ms:.2f} ms/request; {cpu_text(self.cpu)}; load average after "
                f"{self.load}")


Request = Callable[[aiohttp.ClientSession, int], Awaitable[int]]
ERROR = 0  # the status recorded for a request that got no answer (timeout, reset)


async def _send(req: Request, session: aiohttp.ClientSession, i: int) -> int:
    try:
        return await req(session, i)
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return ERROR


async def closed_loop(session: aiohttp.ClientSession, target: Target, counter) -> Window:
    """CLIENTS workers, each sending its next request when the last one answered; requests
    completed inside the window count."""
    window_s = WINDOW_S
    w, t0 = Window("closed", window_s), perf_counter()
    start, end = t0 + WARMUP_S, t0 + WARMUP_S + window_s

    async def worker(k: int) -> None:
        req, i = target.slot(k), 0
        while (a := perf_counter()) < end:
            w.sent += 1
            status = await _send(req, session, i)
            i, b = i + 1, perf_counter()
            counter.n += 1
            if start <= b <= end:
                w.lat.append(b - a)
                w.status[status] = w.status.get(status, 0) + 1

    await asyncio.wait_for(asyncio.gather(*map(worker, range(CLIENTS))), window_s + 300)
    w.wall = perf_counter() - t0
    return w


async def alternated(ours: Callable[[int], Awaitable[Window]],
                     raw: Callable[[int], Awaitable[Window]]) -> tuple[Window, Window]:
    """Closed-loop windows of our service and of the raw baseline in the order ours, raw, raw,
    ours (each callable gets the window's number, 1 or 2), each side's two joined: the
    machine's speed drifts by a third between runs minutes apart (bench/RESULTS.md), and a
    drift over the four windows moves both sides alike."""
    first = await ours(1)
    raw_1 = await raw(1)
    raw_2 = await raw(2)
    return Window.joined(first, await ours(2)), Window.joined(raw_1, raw_2)


def pair_ratios(ours: Window, raw: Window) -> str:
    """Each pair of neighbouring windows' ratio (ours 1 : raw 1, ours 2 : raw 2), in %."""
    return " / ".join(f"{o.rate / b.rate * 100:.0f} %" if b.rate else "–"
                      for o, b in zip(ours.parts, raw.parts, strict=True))


async def open_loop(session: aiohttp.ClientSession, target: Target, rate: float,
                    counter) -> Window:
    """Request *i* due at *t0 + i/rate*, sent then however many are in flight (up to
    OPEN_CONNECTIONS connections; beyond, it waits for one in the client, and that wait
    counts); latency from the due time. Requests due inside the window count."""
    window_s = RATE_S
    w = Window("open", window_s, offered=rate)
    n_warm, n = int(rate * WARMUP_S), int(rate * (WARMUP_S + window_s))
    reqs = [target.slot(k) for k in range(CLIENTS)]
    done_at: list[float] = []
    t0 = perf_counter() + 0.05

    async def one(i: int, due: float) -> None:
        status = await _send(reqs[i % CLIENTS], session, i // CLIENTS)
        b = perf_counter()
        counter.n += 1
        if i >= n_warm:
            w.lat.append(b - due)
            done_at.append(b)
            w.status[status] = w.status.get(status, 0) + 1

    tasks = []
    for i in range(n):
        due = t0 + i / rate
        if (delay := due - perf_counter()) > 0:
            await asyncio.sleep(delay)
        w.max_slip_ms = max(w.max_slip_ms, (perf_counter() - due) * 1000)
        w.sent += 1
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.wait_for(asyncio.gather(*tasks), 600)
    w.wall = perf_counter() - (t0 - 0.05)
    window_start = t0 + n_warm / rate
    w.achieved = (n - n_warm) / max(window_s, max(done_at) - window_start) if done_at else 0.0
    return w


async def settle(server: Server, target: Target, engine,
                 read_model: str = "journal_records") -> None:
    """Before the next window: ``read_model`` has every write of this one (with the engine of
    its schema), and the server is idle (its relay and log writer have caught up)."""
    if engine is not None:
        for t in list(target.tokens.values()):
            await wait_until_applied(engine, read_model, ConsistencyToken.decode(t), 300)
    target.tokens.clear()
    deadline = Deadline(120, "server idle")
    last = {pid: _proc_cpu(pid) or 0.0 for pid in server.roles()}
    while True:
        await asyncio.sleep(0.5)
        now = {pid: _proc_cpu(pid) or 0.0 for pid in last}
        if all(now[p] - last[p] < 0.05 for p in now) or deadline.left() < 0:  # < 10 % of a core
            return
        last = now


# --- the servers -----------------------------------------------------------------------------

@dataclass
class Side:
    """A server measured, and how its clients and windows name and reach it."""
    port: int
    token: str | None
    server: Server
    who: str
    engine: AsyncEngine | None = None   # ours: its read models', to wait for its projection
    read_model: str = "journal_records"   # ... the projection its writes are waited for in
    profile: str | None = None   # the name its closed-loop windows' profiles start with


async def window(bench: str, side: Side, target: Target, what: str, rate: float | None,
                 progress, n: int = 1) -> Window:
    """One window of ``bench`` against one server, on fresh connections (an idle keep-alive
    connection the server is closing is never reused), then until it has settled
    (``settle``): closed loop (``rate`` None) or open loop at ``rate``; ``n`` numbers a
    side's closed-loop windows, which ``profiled`` samples when the side names a profile."""
    kind = f"open @ {rate:.0f}/s" if rate else "closed"
    total = int(rate * (WARMUP_S + RATE_S)) if rate else None
    async with session_for(side.port, side.token, OPEN_CONNECTIONS if rate else CLIENTS) as s, \
            tracked(progress, f"{bench} {what} {kind} {'' if rate else n}: {side.who}",
                    total) as c:
        cpu = CpuMeter(side.server.roles() | {os.getpid(): "load generator"})
        name = f"{side.profile}-{what}{'' if n == 1 else f'-{n}'}"
        async with profiled(side.server, name, WARMUP_S + WINDOW_S) \
                if side.profile and not rate else contextlib.nullcontext():
            w = await (open_loop(s, target, rate, c) if rate else closed_loop(s, target, c))
        w.cpu = cpu.stop()
        w.load = loadavg()
    progress.update(progress.task_ids[-1], total=c.n)  # closed loop: now it is known
    await settle(side.server, target, side.engine, side.read_model)
    return w


@dataclass
class Server:
    """A server under test: its API process and, for ours, the process of its outbox relay and
    projections, as the chart deploys them (``bench/servers.py``)."""
    api: Child
    background: Child | None = None

    @property
    def pid(self) -> int:
        return self.api.pid

    def roles(self, name: str = SERVER) -> dict[int, str]:
        """{pid: CpuMeter role}; the background's role starts with the API's (``cpu_ms``)."""
        out = {self.api.pid: name}
        if self.background is not None:
            out[self.background.pid] = f"{name}: relay and projections"
        return out

    async def stop(self) -> None:
        await self.api.stop()
        if self.background is not None:
            await self.background.stop()


async def _spawn(command: str, mode: str, config: dict, log: Path) -> Child:
    child = Child(f"{mode} {command}", [], log)  # for its bounded stop()
    with open(log, "ab") as err:
        child.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.servers", command, mode, json.dumps(config),
            stdout=err, stderr=err, cwd=REPO_ROOT, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    return child


async def start_server(mode: str, config: dict, log: Path) -> Server:
    """A server under test, ready once it listens; for ours (not ``*-raw``) then also its
    relay and projections (``python -m bench.servers serve|background <mode> <config>``),
    ready once that process says so (its log is ``log`` with ``.background`` added)."""
    server = Server(await _spawn("serve", mode, config, log))
    try:
        deadline = Deadline(120, f"{mode} server start")
        while not port_open(config["port"]):  # uvicorn listens once the lifespan is up
            if server.api.proc.returncode is not None:
                raise RuntimeError(f"the {mode} server exited; see {log}")
            deadline.check()
            await asyncio.sleep(0.1)
        if not mode.endswith("-raw"):
            server.background = await start_background(
                mode, config, log.with_name(log.name + ".background"))
        return server
    except BaseException:
        await server.stop()
        raise


async def start_background(mode: str, config: dict, log: Path) -> Child:
    """The outbox relay and projections of one of our services in their own process (``python
    -m bench.servers background <mode> <config>``), once its API has migrated the schema;
    ready once it says so."""
    child = await _spawn("background", mode, config, log)
    try:
        deadline = Deadline(120, f"{mode} relay and projections start")
        while BACKGROUND_READY.encode() not in log.read_bytes():
            if child.proc.returncode is not None:
                raise RuntimeError(f"the {mode} relay and projections exited; see {log}")
            deadline.check()
            await asyncio.sleep(0.1)
        return child
    except BaseException:
        await child.stop()
        raise


def session_for(port: int, token: str | None = None, limit: int = CLIENTS) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"} if token else {},
        connector=aiohttp.TCPConnector(limit=limit), timeout=aiohttp.ClientTimeout(total=300))


def profiled(server: Server, name: str, seconds: float):
    """py-spy on the server's processes for the window, when ``BENCH_PROFILE_DIR`` is set:
    ``<name>.txt`` (the API) and ``<name>-background.txt`` (its relay and projections), in
    py-spy's raw (collapsed stacks) format."""
    return spied(name, seconds, {"": server.pid,
                                 "-background": server.background and server.background.pid})


@contextlib.asynccontextmanager
async def spied(name: str, seconds: float, pids: dict[str, int | None]):
    """``profiled`` for any processes: ``<name><suffix>.txt`` for each ``suffix: pid``
    (``.svg``, a flame graph, with ``BENCH_PYSPY_FORMAT=flamegraph``); ``BENCH_PYSPY_ARGS``
    adds py-spy arguments (``--native``, ``--idle``)."""
    out, spy = os.environ.get("BENCH_PROFILE_DIR"), os.environ.get("BENCH_PYSPY") or \
        shutil.which("py-spy")
    fmt = os.environ.get("BENCH_PYSPY_FORMAT", "raw")
    svg = fmt == "flamegraph"
    procs, files = [], []
    if out and spy:
        Path(out).mkdir(parents=True, exist_ok=True)
        for suffix, pid in pids.items():
            if pid:
                files.append(Path(out) / f"{name}{suffix}.{'svg' if svg else 'txt'}")
                procs.append(await asyncio.create_subprocess_exec(
                    spy, "record", *shlex.split(os.environ.get("BENCH_PYSPY_ARGS", "")),
                    "--pid", str(pid), "--subprocesses", "--rate", "100",
                    "--duration", str(int(seconds)), "--format", fmt, "--nonblocking", "-o",
                    str(files[-1]), stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL))
    try:
        yield
    finally:
        for proc in procs:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(proc.wait(), 30)
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        for graph in files if svg else ():   # may be kept in the repository: no path of
            with contextlib.suppress(OSError):   # this machine in it
                graph.write_text(without_machine_paths(graph.read_text()))
