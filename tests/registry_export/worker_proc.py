"""The registry's faust worker in its own process, so fault tests can SIGKILL it.

    python -m tests.registry_export.worker_proc <bootstrap> <app_id> <topics json> <datadir>
                                                <partitions> <web_port>
"""

from __future__ import annotations

import asyncio
import json
import sys

from cli.manifests import registry
from libs.config import Settings
from services.registry_export.worker import build_worker


async def main(argv: list[str]) -> None:
    bootstrap, app_id, topics, datadir, partitions, port = argv
    import logging
    logging.basicConfig(level=logging.WARNING)
    app = build_worker(Settings(KAFKA_BOOTSTRAP_SERVERS=bootstrap), registry(),
                       topics=json.loads(topics), app_id=app_id, partitions=int(partitions),
                       datadir=datadir, web_port=int(port), broker_commit_interval=0.5,
                       broker_session_timeout=6, broker_heartbeat_interval=1)
    await app.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
