"""A service (consent, journal) as its own process, for tests that kill it with SIGKILL."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx

from libs.config import REPO_ROOT


def start_service(service: str, database_url: str, schema: str, kafka_bootstrap: str,
                  port: int, key, topics: dict[str, str]) -> subprocess.Popen:
    """``python -m tests.support.worker <service> …`` on ``port``."""
    return subprocess.Popen([sys.executable, "-m", "tests.support.worker", service,
                             database_url, schema, kafka_bootstrap, str(port), str(key),
                             json.dumps(topics)], cwd=REPO_ROOT)


async def healthy(url: str) -> bool:
    try:
        async with httpx.AsyncClient() as c:
            return (await c.get(f"{url}/health", timeout=1)).status_code == 200
    except httpx.HTTPError:
        return False
