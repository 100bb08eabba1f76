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
import io
import signal
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
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, _dump_tasks, app)
    await app.start()
    await asyncio.Event().wait()


def _dump_tasks(app) -> None:
    """SIGUSR1: where every asyncio task waits (its whole await chain), into the log (a test
    asks before it fails)."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        print(f"--- {task.get_name()}", file=out)
        awaited: object = task.get_coro()
        while awaited is not None:
            frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
            if frame is not None:
                print(f"    {frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}",
                      file=out)
            nxt = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
            if nxt is None and isinstance(awaited, asyncio.Task):
                nxt = awaited.get_coro()
            if nxt is None:
                print(f"    waits on {awaited!r:.300}", file=out)
            awaited = nxt
    c = app.consumer
    for name in ("_committed_offset", "_read_offset", "_gap", "_active_partitions",
                 "_paused_partitions", "_buffered_partitions", "flow_active", "_n_acked"):
        print(f"consumer.{name} = {getattr(c, name, '?')!r:.2000}", file=out)
    for tp, acked in getattr(c, "_acked", {}).items():
        print(f"consumer._acked[{tp}] = {len(acked)} {sorted(acked)[:20]}", file=out)
    print(f"unacked = {len(c.unacked)} {sorted(m.offset for m in c.unacked)[:20]}", file=out)
    try:   # aiokafka's own view (faust runs it in a thread): pauses and fetch positions
        inner = c._thread._ensure_consumer()
        print(f"aiokafka paused {inner.paused()}", file=out)
        assignment = inner._fetcher._subscriptions.subscription.assignment
        for tp in inner.assignment():
            print(f"aiokafka position {tp} {assignment.state_value(tp).position}", file=out)
    except Exception as exc:  # noqa: BLE001  (a diagnostic: internals may move)
        print(f"aiokafka state unavailable: {exc!r}", file=out)
    logging.getLogger("worker_proc").warning("asyncio tasks:\n%s", out.getvalue())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
