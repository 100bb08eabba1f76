"""A relay, a projection or a service in its own process, so fault tests can kill it with
SIGKILL.

    python -m tests.support.worker relay <database_url> <schema> <bootstrap> [batch]
    python -m tests.support.worker projection <database_url> <schema> <bootstrap> <topic> <delay_s>
    python -m tests.support.worker consent <database_url> <schema> <bootstrap> <port> <key> <topics>
    python -m tests.support.worker journal <database_url> <schema> <bootstrap> <port> <key> <topics>
    python -m tests.support.worker medication …   (the same arguments as journal)

``key`` is the development issuer's key file (the test mints tokens with the same file);
``topics`` is JSON: ``{"consent.events": "<the test's topic>", ...}``.
"""

from __future__ import annotations

import asyncio
import json
import sys

from libs.events.db import make_engine
from libs.events.projection import ProjectionRunner
from libs.events.relay import OutboxRelay
from libs.kernel.loop import run_on_uvloop
from tests.support.bank import BalanceProjection
from tests.support.bank import EVENTS as BANK_EVENTS


class SlowBalanceProjection(BalanceProjection):
    """Applies slowly, so a kill lands in the middle of a batch's transaction."""

    def __init__(self, topic: str, delay_s: float):
        super().__init__(topic)
        self.delay_s = delay_s

    async def apply_batch(self, conn, events):
        for env, payload in events:
            await self.apply(conn, env, payload)
            await asyncio.sleep(self.delay_s)


class SlowRelay(OutboxRelay):
    """Pauses after each batch, so a kill lands mid-stream however fast the machine is."""

    async def _drain_once(self, conn):
        moved = await super()._drain_once(conn)
        await asyncio.sleep(0.02)
        return moved


async def main(argv: list[str]) -> None:
    kind, url, schema, bootstrap = argv[:4]
    if kind == "relay":
        batch = int(argv[4]) if len(argv) > 4 else 100
        await SlowRelay(url, schema, bootstrap, batch_size=batch, poll_interval_s=0.2).run()
    elif kind == "projection":
        topic, delay = argv[4], float(argv[5])
        engine = make_engine(url, schema)
        runner = ProjectionRunner(SlowBalanceProjection(topic, delay), engine, bootstrap,
                                  registry=BANK_EVENTS,
                                  batch_size=50)
        await runner.start()
        await runner.run()
    elif kind in SERVICES:
        await serve(kind, url, schema, bootstrap, int(argv[4]), argv[5], json.loads(argv[6]))
    else:
        raise SystemExit(f"unknown worker {kind}")


SERVICES = {"consent": "services.consent.app", "journal": "services.journal.app",
            "medication": "services.medication.app"}


async def serve(service: str, url: str, schema: str, bootstrap: str, port: int, key: str,
                topics: dict[str, str]) -> None:
    """A service as a real server (relay, projections and access logger inside)."""
    import importlib  # noqa: PLC0415

    import uvicorn  # noqa: PLC0415

    from libs.config import Settings  # noqa: PLC0415
    from libs.web.one_write import OneWriteHttp  # noqa: PLC0415
    from libs.web.service import Options  # noqa: PLC0415

    create_app = importlib.import_module(SERVICES[service]).create_app
    settings = Settings(database_url=url, kafka_bootstrap_servers=bootstrap, environment="test",
                        dev_key_path=key, relay_poll_interval_s=0.2, consistency_wait_s=15)
    app = create_app(settings, Options(schema=schema, topic_names=topics))
    await uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, http=OneWriteHttp,
                                        log_level="warning")).serve()


if __name__ == "__main__":
    run_on_uvloop(main(sys.argv[1:]))   # the loop they run on when deployed
