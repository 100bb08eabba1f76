"""Kubernetes probes for every process of the image, light enough to run every few seconds:
``python -m cli.probe ready`` and ``python -m cli.probe alive`` (exit 0 or 1).

- ``ready``: this process can reach PostgreSQL (a connection and ``SELECT 1``) and Kafka (a TCP
  connection to a bootstrap server), within a bound. It names neither the URL's credentials
  nor anything else in what it prints.
- ``alive``: the process started by the container (PID 1) is running: neither a zombie nor
  stopped. It never asks another system, so a database or broker outage never restarts a pod.
"""

from __future__ import annotations

import asyncio
import re
import socket
import sys
from pathlib import Path

from libs.config import Settings

TIMEOUT_S = 3.0


def bootstrap_servers(bootstrap: str) -> list[tuple[str, int]]:
    out = []
    for item in bootstrap.split(","):
        host, _, port = item.strip().rpartition(":")
        if host and port.isdigit():
            out.append((host.strip("[]"), int(port)))
    return out


def kafka_reachable(bootstrap: str, timeout_s: float = TIMEOUT_S) -> bool:
    for host, port in bootstrap_servers(bootstrap):
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                return True
        except OSError:
            continue
    return False


async def _postgres(url: str, timeout_s: float) -> bool:
    import asyncpg  # noqa: PLC0415  (only the ready probe needs it)

    dsn = re.sub(r"^postgresql\+asyncpg://", "postgresql://", url)
    try:
        conn = await asyncpg.connect(dsn, timeout=timeout_s)
    except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False
    try:
        return await asyncio.wait_for(conn.fetchval("SELECT 1"), timeout_s) == 1
    except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False
    finally:
        await conn.close(timeout=timeout_s)


def postgres_reachable(url: str, timeout_s: float = TIMEOUT_S) -> bool:
    return asyncio.run(_postgres(url, timeout_s))


def ready(settings: Settings) -> list[str]:
    """What this process cannot reach (empty: ready)."""
    missing = []
    if not postgres_reachable(settings.effective_database_url):
        missing.append("PostgreSQL")
    if not kafka_reachable(settings.effective_kafka):
        missing.append("Kafka")
    return missing


def alive(proc: Path = Path("/proc/1/stat")) -> bool:
    try:
        state = proc.read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "T", "X")


def main(argv: list[str]) -> int:
    if argv == ["alive"]:
        return 0 if alive() else 1
    if argv == ["ready"]:
        missing = ready(Settings())
        if missing:
            print(f"not ready: cannot reach {' and '.join(missing)}", file=sys.stderr)
            return 1
        return 0
    print("usage: python -m cli.probe ready|alive", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
