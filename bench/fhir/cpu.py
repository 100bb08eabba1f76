"""CPU per request of each side of the FHIR benchmark, from ``/proc/<pid>/stat`` (utime +
stime) of every process of that side, sampled before a phase and after it (once the side is
idle again, so the work a request leaves behind — relays, projections, the access log,
Hibernate's flushes — counts too):

- **ours**: each service's two processes (its API with the access logger; its outbox relay
  and projections) and anything they started, the gateway's nginx (master and workers),
  Kafka, and the PostgreSQL server's processes but for HAPI's database's backends;
- **HAPI**: its JVM, and the PostgreSQL server's processes but for backends of any other
  database.

Processes are found by what they are, not by name: the servers' pids, and the processes
listening on PostgreSQL's and Kafka's ports (so another PostgreSQL or Kafka on the same machine
never counts), with all their descendants. PostgreSQL's own background processes (checkpointer,
WAL writer, ...) count for whichever side is measured at the time.

Beside them, ``Load`` measures what no side is charged with: the benchmark's own process (the
client: building, sending and reading every request) and how busy the whole machine was while
the clients ran. A phase with the machine near 100 % busy measured what CPU was left after the
client, not how fast a server can answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from bench.infra import Deadline

_TICK = os.sysconf("SC_CLK_TCK")
POSTGRES, KAFKA = "PostgreSQL", "Kafka"
T = TypeVar("T")


def _stat(pid: int) -> tuple[int, float] | None:
    """(ppid, CPU seconds) of a process, or None when it is gone."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return None


def _cmdline(pid: int) -> str:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""


def listener_pids(port: int) -> set[int]:
    """The processes listening on 127.0.0.1/0.0.0.0/[::] ``port`` (from /proc/net/tcp*): more
    than one when each binds it with ``SO_REUSEPORT``, or shares an inherited socket."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in open(table).readlines()[1:]:
                f = line.split()
                if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{f[9]}]")
    found: set[int] = set()
    if not inodes:
        return found
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{entry}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{entry}/fd/{fd}") in inodes:
                        found.add(int(entry))
                        break
    return found


def listener_pid(port: int) -> int | None:
    """The process listening on ``port`` (the lowest pid when several do)."""
    return min(listener_pids(port), default=None)


def machine_ticks(stat: str = "/proc/stat") -> tuple[int, int]:
    """(busy, all) clock ticks of every core since boot, from ``/proc/stat``'s ``cpu`` line:
    all is user, nice, system, idle, iowait, irq, softirq and steal (guest time is already in
    user); busy is all but idle and iowait."""
    with open(stat) as f:
        ticks = [int(x) for x in f.readline().split()[1:9]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


class Load:
    """From its creation to ``stop()``: the share of the machine's cores that were busy, and the
    CPU seconds of this process (every thread), the benchmark's client."""

    def __init__(self) -> None:
        self._machine, self._own = machine_ticks(), time.process_time()

    def stop(self) -> tuple[float, float]:
        """(busy share of all cores 0..1, this process's CPU seconds)."""
        busy, every = machine_ticks()
        spent = every - self._machine[1]
        share = (busy - self._machine[0]) / spent if spent > 0 else 0.0
        return share, time.process_time() - self._own


def snapshot() -> dict[int, tuple[int, float]]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (s := _stat(int(entry))) is not None:
            out[int(entry)] = s
    return out


def _root_of(pid: int, procs: dict[int, tuple[int, float]], roots: dict[int, str]) -> int | None:
    seen = 0
    while pid in procs and seen < 64:
        if pid in roots:
            return pid
        pid, seen = procs[pid][0], seen + 1
    return None


@dataclass
class SideProcesses:
    """The processes of one side: root pid -> role (descendants take their root's role), and
    which PostgreSQL backends are its own (``pg_filter(cmdline)``; background processes,
    whose command line names no client, always count)."""

    roots: dict[int, str]
    pg_filter: Callable[[str], bool] = field(default=lambda cmd: True)

    def role(self, pid: int, procs: dict[int, tuple[int, float]]) -> str | None:
        root = _root_of(pid, procs, self.roots)
        if root is None:
            return None
        role = self.roots[root]
        if role == POSTGRES and pid != root:
            cmd = _cmdline(pid)
            if "(" in cmd or "[local]" in cmd or "autovacuum worker" in cmd:  # a backend
                return role if self.pg_filter(cmd) else None
        return role


def backend_of(database: str) -> Callable[[str], bool]:
    """A backend of ``database`` (HAPI's, the floor's)."""
    return lambda cmd: f" {database} " in f"{cmd} "


def backend_of_none(*databases: str | None) -> Callable[[str], bool]:
    """A backend of none of ``databases`` (ours: every database but the others' sides')."""
    return lambda cmd: not any(d and f" {d} " in f"{cmd} " for d in databases)


class Meter:
    """CPU seconds by role of one side over a stretch of time."""

    def __init__(self, side: SideProcesses):
        self.side = side
        self.start = snapshot()

    def stop(self) -> dict[str, float]:
        end = snapshot()
        used: dict[str, float] = {}
        for pid, (_, cpu) in end.items():
            before = self.start.get(pid)
            delta = cpu - (before[1] if before else 0.0)
            if delta > 0 and (role := self.side.role(pid, end)) is not None:
                used[role] = used.get(role, 0.0) + delta
        return used


def side_cpu(side: SideProcesses) -> float:
    procs = snapshot()
    return sum(cpu for pid, (_, cpu) in procs.items() if side.role(pid, procs) is not None)


async def idle(side: SideProcesses, quiet: float = 0.15, limit_s: float = 15) -> None:
    """Until the side uses under ``quiet`` of a core over half a second (its relays and
    projections poll, so never nothing), or ``limit_s`` has passed."""
    deadline, last = Deadline(limit_s, "side idle"), side_cpu(side)
    while deadline.left() > 0:
        await asyncio.sleep(0.5)
        now = side_cpu(side)
        if now - last < quiet * 0.5:
            return
        last = now


async def measure(side: SideProcesses, run: Callable[[], Awaitable[T]],
                  settle_s: float = 15) -> tuple[T, dict[str, float]]:
    """``run()`` with the side's CPU by role from its start until the side is idle again
    (waiting at most ``settle_s`` before and after)."""
    await idle(side, limit_s=settle_s)
    meter = Meter(side)
    result = await run()
    await idle(side, limit_s=settle_s)
    return result, meter.stop()


async def idle_rate(side: SideProcesses, seconds: float = 10) -> dict[str, float]:
    """CPU ms per second by role while no request is sent (consumers polling, relays,
    PostgreSQL's and Kafka's own work): what a phase's CPU per request carries whatever it
    serves, divided by its rate."""
    await idle(side)
    meter = Meter(side)
    await asyncio.sleep(seconds)
    return {role: round(used / seconds * 1000, 1) for role, used in meter.stop().items()}
