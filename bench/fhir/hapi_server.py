"""The HAPI FHIR JPA server 8.8 the FHIR benchmark compares the record with: our small Spring
Boot app (``bench/fhir/hapi``, built by ``make bench-fhir`` with Maven into
``.cache/hapi-fhir``), run with a 2 GB heap on the benchmark's PostgreSQL server in a database
of its own (created here, dropped at the end), HAPI's defaults otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx

from bench.infra import Deadline, unique
from libs.config import REPO_ROOT
from libs.devstack.procs import free_port
from libs.events.db import asyncpg_dsn

JAR = REPO_ROOT / ".cache" / "hapi-fhir" / "target" / "bench-hapi-fhir.jar"
HEAP = "2g"
START_TIMEOUT_S = 900   # the first start creates HAPI's schema on a busy 2-core machine


@dataclass
class Hapi:
    base: str         # http://127.0.0.1:<port>/fhir
    pid: int
    database: str     # the database of its own on the benchmark's PostgreSQL server


def jdbc(database_url: str, database: str) -> tuple[str, str, str]:
    """(JDBC URL, user, password) for ``database`` on the server of ``database_url``."""
    u = urlsplit(asyncpg_dsn(database_url))
    return (f"jdbc:postgresql://{u.hostname}:{u.port or 5432}/{database}", u.username or "",
            u.password or "")


async def admin(database_url: str, sql: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(database_url), timeout=30)
    try:
        await conn.execute(sql, timeout=300)
    finally:
        await conn.close()


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("Java 17 or newer is needed for the HAPI FHIR server "
                           "(apt-get install openjdk-17-jre-headless)")
    return java


async def _ready(base: str, proc: asyncio.subprocess.Process, log: Path) -> None:
    deadline = Deadline(START_TIMEOUT_S, "the HAPI FHIR server's start")
    async with httpx.AsyncClient(timeout=120) as http:   # its first answer is slow
        while True:
            if proc.returncode is not None:
                raise RuntimeError(f"the HAPI FHIR server exited; see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{base}/metadata")).status_code == 200:
                    return
            deadline.check()
            await asyncio.sleep(1)


@contextlib.asynccontextmanager
async def running(database_url: str, log: Path) -> AsyncIterator[Hapi]:
    """HAPI on a free port, ready once ``/fhir/metadata`` answers; stopped and its database
    dropped on exit."""
    if not JAR.exists():
        raise RuntimeError(f"{JAR.relative_to(REPO_ROOT)} is missing: `make bench-fhir` builds "
                           "it (Maven, bench/fhir/hapi)")
    database, port = f"bench_hapi_{unique()}", free_port()
    await admin(database_url, f'CREATE DATABASE "{database}"')
    url, user, password = jdbc(database_url, database)
    args = [_java(), f"-Xms{HEAP}", f"-Xmx{HEAP}", "-jar", str(JAR), f"--server.port={port}",
            "--server.address=127.0.0.1", f"--spring.datasource.url={url}",
            f"--spring.datasource.username={user}", "--spring.main.banner-mode=off"]
    env = dict(os.environ, SPRING_DATASOURCE_PASSWORD=password)  # not on the command line
    proc = None
    try:
        with open(log, "ab") as out:
            proc = await asyncio.create_subprocess_exec(
                *args, stdout=out, stderr=out, stdin=asyncio.subprocess.DEVNULL, env=env,
                cwd=JAR.parent)
        base = f"http://127.0.0.1:{port}/fhir"
        await _ready(base, proc, log)
        yield Hapi(base, proc.pid, database)
    finally:
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 60)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        await admin(database_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
