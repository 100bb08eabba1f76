"""The welfare alert rules' faust worker in its own process, so tests can SIGKILL it.

    python -m tests.welfare.worker_proc <database_url> <schema> <bootstrap> <topics json>
                                        <app_id> <datadir> <web_port> [<response sla s>]
                                        [clock=<file>]

``clock=<file>``: the worker's clock reads the time (ISO 8601) from the file, so a test moves
time for the inactivity rule instead of waiting hours.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from datetime import datetime, timedelta
from pathlib import Path

from libs.config import Settings
from services.welfare.domain.rules import RuleConfig
from services.welfare.worker import build_worker, registry

CONFIG = RuleConfig(unit="974600978", response_sla=timedelta(minutes=30),
                    follow_up_within=timedelta(hours=24))


async def main(argv: list[str]) -> None:
    url, schema, bootstrap, topics, app_id, datadir, port = argv[:7]
    options = dict(a.split("=", 1) for a in argv[7:] if "=" in a)
    sla = [a for a in argv[7:] if "=" not in a]
    config, clock = CONFIG, {}
    if sla:   # a short SLA, so a test sees an alert escalate
        config = RuleConfig(unit=CONFIG.unit, response_sla=timedelta(seconds=float(sla[0])),
                            follow_up_within=CONFIG.follow_up_within)
    if "clock" in options:
        path = Path(options["clock"])
        clock = {"clock": lambda: datetime.fromisoformat(path.read_text())}
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # a restarted worker that stops consuming left no trace at WARNING (seen once in CI): its
    # table recovery and its consumer group's assignments say where it stands
    for name in ("faust.tables.recovery", "faust.transport.consumer",
                 "aiokafka.consumer.group_coordinator"):
        logging.getLogger(name).setLevel(logging.INFO)
    settings = Settings(DATABASE_URL=url, KAFKA_BOOTSTRAP_SERVERS=bootstrap)
    app = build_worker(settings, registry(), schema=schema, topics=json.loads(topics),
                       config=config, app_id=app_id, escalate_every_s=0.5, datadir=datadir,
                       inactivity_every_s=0.5 if clock else 60.0, **clock,
                       partitions=3,   # the test topics' count (tests/conftest.py make_topics)
                       web_port=int(port),
                       broker_commit_interval=0.5, broker_session_timeout=6,
                       broker_heartbeat_interval=1)
    await app.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
