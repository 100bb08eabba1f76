"""Small shared pieces: progress counters, percentiles, bounded waits on child processes."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import time
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass

from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn,
                           TextColumn, TimeElapsedColumn, TimeRemainingColumn)

from libs.config import REPO_ROOT


TRACE_RATIO_ENV = "EHR_OTEL_TRACE_RATIO"


def chart_trace_ratio() -> float:
    """The share of traces the Helm chart has our services record (``telemetry.traceRatio`` in
    ``helm/ehr/values.yaml``)."""
    import yaml
    values = yaml.safe_load((REPO_ROOT / "helm" / "ehr" / "values.yaml").read_text())
    return float(values["telemetry"]["traceRatio"])


@contextlib.contextmanager
def traced_as_deployed() -> Iterator[None]:
    """For a benchmark's run: the services it starts (they inherit its environment) sample their
    traces as the chart deploys them, unless ``EHR_OTEL_TRACE_RATIO`` already says otherwise.
    The variable is taken away again afterwards: a test that runs a benchmark's command line
    in its own process keeps its own settings."""
    given = os.environ.get(TRACE_RATIO_ENV)
    if given is None:
        os.environ[TRACE_RATIO_ENV] = str(chart_trace_ratio())
    try:
        yield
    finally:
        if given is None:
            os.environ.pop(TRACE_RATIO_ENV, None)


def telemetry_setting() -> str:
    """How the services of this run trace, for its settings."""
    from libs.config import Settings
    ratio = float(os.environ.get(TRACE_RATIO_ENV)
                  or Settings.model_fields["otel_trace_ratio"].default)
    chart = " (the chart's telemetry.traceRatio)" if ratio == chart_trace_ratio() else ""
    return (f"our services with the SDK and no exporter, traces sampled at {ratio:g}{chart} "
            f"({TRACE_RATIO_ENV})")


def make_progress(console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TaskProgressColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=console, transient=False)


@dataclass
class Counter:
    """Bumped by the measured code (an int add); a watcher copies it into the progress bar, so
    the bar costs the measured loop nothing."""

    n: int = 0


@contextlib.asynccontextmanager
async def tracked(progress: Progress | None, label: str, total: int) -> AsyncIterator[Counter]:
    counter = Counter()
    if progress is None:
        yield counter
        return
    task = progress.add_task(label, total=total)

    async def watch() -> None:
        while True:
            progress.update(task, completed=counter.n)
            await asyncio.sleep(0.25)

    watcher = asyncio.create_task(watch())
    try:
        yield counter
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        progress.update(task, completed=counter.n)


async def gather_bounded(coros, limit: int, timeout: float) -> list:
    """Await the coroutines, at most ``limit`` at a time, all within ``timeout`` seconds."""
    sem = asyncio.Semaphore(limit)

    async def one(c):
        async with sem:
            return await c

    return await asyncio.wait_for(asyncio.gather(*(one(c) for c in coros)), timeout)


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values."""
    if not values:
        return math.nan
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


class Child:
    """A ``python -m bench.workers ...`` process: started, awaited until it prints READY,
    stopped with SIGTERM (then SIGKILL), every step bounded."""

    def __init__(self, name: str, args: list[str], log_path):
        self.name, self.args, self.log_path = name, args, log_path
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def roles(self, name: str) -> dict[int, str]:
        """{pid: CpuMeter role}, as ``bench.loadgen.Server.roles`` (which has two processes)."""
        return {self.pid: name}

    async def start(self, timeout_s: float = 90) -> None:
        log = open(self.log_path, "ab")
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.workers", *self.args, cwd=str(REPO_ROOT), env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=log)
        log.close()
        assert self.proc.stdout

        async def ready() -> None:
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"{self.name} exited before it was ready; see "
                                       f"{self.log_path}")
                if line.strip() == b"READY":
                    return

        try:
            await asyncio.wait_for(ready(), timeout_s)
        except BaseException:
            await self.stop()
            raise

    async def stop(self, timeout_s: float = 30) -> int | None:
        if self.proc is None or self.proc.returncode is not None:
            return self.proc.returncode if self.proc else None
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout_s)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            return await asyncio.wait_for(self.proc.wait(), 10)


_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command (state first); [] when gone."""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _proc_cpu(pid: int) -> float | None:
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / _TICK if fields else None  # utime + stime


def _parent(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[1]) if fields else None


def _role_of(pid: int, named: dict[int, str]) -> str:
    up = pid
    for _ in range(3):   # a named process's children are its (an API's several processes)
        if up in named:
            return named[up]
        if (up := _parent(up)) is None:
            break
    try:
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ")
    except OSError:
        return "other"
    if b"postgres" in cmd:
        return "postgres (all processes)"
    if b"kafka.Kafka" in cmd:
        return "kafka"
    return "other"


class CpuMeter:
    """CPU seconds per role over a window, from /proc: the benchmark's own processes by pid,
    PostgreSQL and Kafka by command line, and the machine as a whole (/proc/stat)."""

    def __init__(self, named: dict[int, str]):
        self.named = dict(named)
        self.t0 = time.monotonic()
        self.start = self._sample()
        self.total0 = self._machine()

    @staticmethod
    def _machine() -> tuple[float, float]:
        v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        idle = v[3] + v[4]
        return (sum(v) - idle) / _TICK, sum(v) / _TICK

    def _sample(self) -> dict[int, float]:
        out = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                c = _proc_cpu(int(entry))
                if c is not None:
                    out[int(entry)] = c
        return out

    def stop(self) -> dict[str, float]:
        """{role: share of one core over the window}, plus "machine busy" (share of all)."""
        wall = time.monotonic() - self.t0
        end = self._sample()
        busy1, total1 = self._machine()
        roles: dict[str, float] = {}
        for pid, c in end.items():
            used = c - self.start.get(pid, 0.0)
            if used > 0:
                role = _role_of(pid, self.named)
                roles[role] = roles.get(role, 0.0) + used / wall
        roles["machine busy (of all cores)"] = (busy1 - self.total0[0]) / max(
            1e-9, total1 - self.total0[1])
        return roles


def cpu_text(roles: dict[str, float]) -> str:
    parts = [f"{k} {v * 100:.0f} %" for k, v in sorted(roles.items(), key=lambda kv: -kv[1])
             if v >= 0.01 and not k.startswith("machine")]
    busy = roles.get("machine busy (of all cores)")
    return (f"machine {busy * 100:.0f} % busy; " if busy is not None else "") + \
        "per process (of one core): " + ", ".join(parts)


@dataclass
class Throughput:
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def phase_timeout(n: int) -> float:
    """Far beyond any plausible rate; only a hang trips it."""
    return 120 + n / 200


def pooled_app(url: str, schema: str, **settings: str):
    """A FastAPI app with an asyncpg pool on ``schema`` in ``state["pool"]``: what the raw
    baselines are built on (no platform: no token, log, event store or telemetry).
    ``settings``: more server settings of its connections."""
    import contextlib  # noqa: PLC0415

    import asyncpg  # noqa: PLC0415
    from fastapi import FastAPI  # noqa: PLC0415

    from libs.events.db import asyncpg_dsn  # noqa: PLC0415

    state: dict = {}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        state["pool"] = await asyncpg.create_pool(
            asyncpg_dsn(url), min_size=10, max_size=20,
            server_settings={"search_path": schema, "application_name": f"bench-{schema}",
                             **settings})
        yield
        await state["pool"].close()

    return FastAPI(lifespan=lifespan), state
