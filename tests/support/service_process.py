"""A service as its own process, for tests that kill it with SIGKILL (``beside_consent``: the
set-up the fault tests share)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx

from libs.access.dev_issuer import DevIssuer
from libs.config import REPO_ROOT, Settings
from libs.devstack.procs import free_port
from libs.events.migrations import run_migrations
from libs.web.service import Options
from services.consent.app import create_app as consent_app
from tests.support.waiting import eventually


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


@dataclass
class Beside:
    """A service as a killable process next to the consent service in-process (which gives the
    care relations), on one set of topics; tokens from the development issuer both read."""

    service: str
    consent: httpx.AsyncClient
    client: httpx.AsyncClient          # to the service process
    issuer: DevIssuer
    url: str
    proc: subprocess.Popen
    _start: Callable[[], subprocess.Popen]

    def kill(self) -> None:
        """SIGKILL, and wait for the process to be gone."""
        self.proc.kill()
        self.proc.wait()

    async def restart(self) -> None:
        """Start it again on the same schema and port; return when it is healthy."""
        self.proc = self._start()
        await eventually(lambda: healthy(self.url), 90, what=f"{self.service} restarted")


@asynccontextmanager
async def beside_consent(service: str, database_url: str, schema: str, kafka_bootstrap: str,
                         topics: dict[str, str], tmp_path) -> AsyncIterator[Beside]:
    """``service`` in its own process on ``schema`` (a free port), the consent service
    in-process on ``<schema>_consent``; the process is killed on the way out."""
    key, port = tmp_path / "key.pem", free_port()
    settings = Settings(database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap,
                        environment="test", dev_key_path=key, relay_poll_interval_s=0.2,
                        consistency_wait_s=15)
    issuer = DevIssuer.from_settings(settings)      # creates the key both services read
    consent_schema = f"{schema}_consent"
    await run_migrations(database_url, consent_schema)
    capp = consent_app(settings, Options(schema=consent_schema, topic_names=topics,
                                         telemetry=False))

    def start() -> subprocess.Popen:
        return start_service(service, database_url, schema, kafka_bootstrap, port, key, topics)

    url = f"http://127.0.0.1:{port}"
    beside = None
    try:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(capp.router.lifespan_context(capp))
            consent = await stack.enter_async_context(httpx.AsyncClient(
                transport=httpx.ASGITransport(app=capp), base_url="http://consent", timeout=30))
            client = await stack.enter_async_context(httpx.AsyncClient(base_url=url,
                                                                       timeout=30))
            beside = Beside(service, consent, client, issuer, url, start(), start)
            await eventually(lambda: healthy(url), 90, what=f"{service} up")
            yield beside
    finally:
        if beside is not None:
            beside.kill()
