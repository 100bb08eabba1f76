"""The servers the benchmark runs against, its schemas and topics, and the machine it ran on."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import asyncpg

from libs.config import REPO_ROOT, Settings
from libs.devstack.session import StackHandle, test_stack
from libs.events.db import asyncpg_dsn
from libs.events.kafka_admin import admin_client, apply_topics
from libs.events.migrations import run_migrations
from libs.events.topics import TopicSpec, all_topics

STACK_DIR = REPO_ROOT / ".local" / "bench-stack"   # one subfolder per run
PARTITIONS = 12  # as every catalogue event topic


@contextlib.contextmanager
def stack() -> Iterator[StackHandle]:
    """``DATABASE_URL`` / ``KAFKA_BOOTSTRAP_SERVERS`` when set, else a private local stack
    (PostgreSQL + Kafka on free ports under .local/bench-stack/<pid>), stopped and removed on
    exit: two benchmarks run at once no longer wipe each other's data directories."""
    own = STACK_DIR / str(os.getpid())
    try:
        with test_stack(own) as handle:
            yield handle
    finally:
        shutil.rmtree(own, ignore_errors=True)


def unique() -> str:
    return uuid.uuid4().hex[:8]


@dataclass
class Resources:
    """Schemas and topics one size created: dropped and deleted at the end."""

    database_url: str
    bootstrap: str
    schemas: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)

    async def schema(self, name: str) -> str:
        await asyncio.wait_for(run_migrations(self.database_url, name), 120)
        self.schemas.append(name)
        return name

    async def topic(self, name: str, partitions: int = PARTITIONS) -> str:
        specs = all_topics((TopicSpec(name, partitions, "benchmark topic"),))
        await asyncio.wait_for(apply_topics(self.bootstrap, specs), 120)
        self.topics += [s.name for s in specs]
        return name

    async def cleanup(self) -> None:
        if self.schemas:
            conn = await asyncpg.connect(asyncpg_dsn(self.database_url), timeout=30)
            try:
                for s in self.schemas:
                    await conn.execute(f'DROP SCHEMA IF EXISTS "{s}" CASCADE', timeout=300)
            finally:
                await conn.close()
            self.schemas.clear()
        if self.topics:
            admin = await admin_client(self.bootstrap, 60)
            try:
                await asyncio.wait_for(admin.delete_topics(self.topics), 60)
            finally:
                await admin.close()
            self.topics.clear()


async def pg_connect(database_url: str, schema: str) -> asyncpg.Connection:
    return await asyncpg.connect(asyncpg_dsn(database_url), timeout=30,
                                 server_settings={"search_path": schema,
                                                  "application_name": f"bench-{schema}"})


def _cmd(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:  # noqa: BLE001
        return "?"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def _ram() -> str:
    with contextlib.suppress(OSError):
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "?"


async def machine(handle: StackHandle) -> dict[str, str]:
    from importlib.metadata import version

    conn = await asyncpg.connect(asyncpg_dsn(handle.database_url), timeout=30)
    try:
        pg = await conn.fetchval("SHOW server_version")
        settings = {k: await conn.fetchval(f"SHOW {k}")
                    for k in ("synchronous_commit", "fsync", "shared_buffers", "max_wal_size")}
    finally:
        await conn.close()
    if handle.mode == "local":
        from libs.devstack.kafka import kafka_version

        kafka = f"{kafka_version()} (local, 1 broker, KRaft, heap {Settings().kafka_heap})"
    else:
        kafka = f"external ({handle.mode})"
    git = ["git", "-C", str(REPO_ROOT)]
    dirty = _cmd(git + ["status", "--porcelain", "--", "libs"])
    return {
        "date": _cmd(["date", "-u"]),
        "code": _cmd(git + ["rev-parse", "--short", "HEAD"])
        + (" + uncommitted changes under libs/" if dirty and dirty != "?" else ""),
        "nproc": _cmd(["nproc"]),
        "RAM": _ram(),
        "CPU": _cpu_model(),
        "kernel": platform.release(),
        "Python": platform.python_version(),
        "PostgreSQL": f"{pg} ({', '.join(f'{k}={v}' for k, v in settings.items())})",
        "Kafka": kafka,
        "drivers": ", ".join(f"{p} {version(p)}" for p in
                             ("asyncpg", "SQLAlchemy", "aiokafka", "pydantic")),
        "stack": handle.mode,
        "load average at start": loadavg(),
    }


def loadavg() -> str:
    with contextlib.suppress(OSError):
        return " ".join(open("/proc/loadavg").read().split()[:3])
    return "?"


class Deadline:
    """Every wait of the benchmark is bounded: ``check()`` raises past the limit."""

    def __init__(self, seconds: float, what: str):
        self.end = time.monotonic() + seconds
        self.seconds, self.what = seconds, what

    def left(self) -> float:
        return self.end - time.monotonic()

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise TimeoutError(f"{self.what}: not done within {self.seconds:.0f} s")
