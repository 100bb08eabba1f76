"""The registry's faust worker in its own process, so fault tests can SIGKILL it.

    python -m tests.registry_export.worker_proc <bootstrap> <database url> <schema> <app_id>
                                                <topics json> <datadir> <partitions> <web_port>

It logs faust's recovery steps, and on SIGUSR1 what each agent is doing, what it is assigned
and what its producer still holds, so a failing fault test can say where the worker stood.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys

import faust

from cli.manifests import registry
from libs.config import Settings
from services.registry_export.worker import build_worker

log = logging.getLogger("worker_proc")


def _report(app: faust.App) -> None:
    consumer = app.consumer
    log.warning("SIGUSR1: generation %s, assigned %s, paused %s, producer buffer %s\n%s",
                app.consumer_generation_id, sorted(map(tuple, consumer.assignment())),
                sorted(map(tuple, consumer._paused_partitions)),   # noqa: SLF001
                app.producer.buffer.size, app.agents.human_tracebacks())


async def main(argv: list[str]) -> None:
    bootstrap, database_url, schema, app_id, topics, datadir, partitions, port = argv
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("faust.tables.recovery").setLevel(logging.INFO)
    app = build_worker(Settings(KAFKA_BOOTSTRAP_SERVERS=bootstrap, DATABASE_URL=database_url),
                       registry(), schema=schema, topics=json.loads(topics), app_id=app_id,
                       partitions=int(partitions),
                       datadir=datadir, web_port=int(port), broker_commit_interval=0.5,
                       broker_session_timeout=6, broker_heartbeat_interval=1)
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, _report, app)
    await app.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
