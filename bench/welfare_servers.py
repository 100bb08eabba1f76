"""The welfare benchmark's alert-rules worker (``bench/welfare.py``), started as ``python -m
bench.welfare_servers worker <config>``: the faust worker (``services/welfare/worker.py``), as
``ehr welfare worker`` runs it, on the run's topics and schema; its RSS is what the memory figure
samples. The welfare service itself runs as deployed, API and background (``bench/servers.py``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import timedelta
from pathlib import Path

from bench.infra import Deadline
from bench.util import Child
from libs.config import REPO_ROOT, Settings


def _settings(c: dict) -> Settings:
    return Settings(database_url=c["url"], kafka_bootstrap_servers=c["bootstrap"],
                    environment="test", dev_key_path=Path(c["key"]), consistency_wait_s=30,
                    token_max_lifetime_s=6 * 3600)


async def worker(c: dict) -> None:
    from services.welfare.domain.rules import RuleConfig
    from services.welfare.worker import build_worker, registry

    config = RuleConfig(unit=c["unit"], response_sla=timedelta(minutes=30),
                        follow_up_within=timedelta(hours=24))
    app = build_worker(_settings(c), registry(), schema=c["schema"], topics=c["topics"],
                       config=config, app_id=c["app_id"], datadir=c["datadir"],
                       partitions=c["partitions"], web_port=c["port"],
                       broker_commit_interval=0.5)
    await app.start()
    Path(c["ready"]).write_text("ready")
    await asyncio.Event().wait()


async def start(mode: str, config: dict, log: Path) -> Child:
    """The worker (``mode`` "worker"), ready once it has joined its group and started its
    agent."""
    child = Child(f"welfare {mode}", [], log)
    with open(log, "ab") as err:
        child.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.welfare_servers", mode, json.dumps(config),
            stdout=err, stderr=err, cwd=REPO_ROOT,
            env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    deadline = Deadline(180, f"welfare {mode} start")
    while not Path(config["ready"]).exists():
        if child.proc.returncode is not None:
            raise RuntimeError(f"the welfare {mode} exited; see {log}")
        deadline.check()
        await asyncio.sleep(0.1)
    return child


def rss_mb(pid: int) -> float:
    """The process's resident set size (``VmRSS`` in /proc), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    asyncio.run(worker(json.loads(sys.argv[2])))
