"""SIGKILL of the alert rules' worker during a burst: after a restart every acknowledged reading
has been processed exactly once: each alert raised once, no task duplicated, none lost."""

from __future__ import annotations

import os
import signal
from collections import Counter

import pytest
from sqlalchemy import text

from tests.registry_export.support import coordinator_ready
from tests.support.waiting import passes
from tests.welfare.conftest import ALARM, Home, batch, flag, spawn_worker, stop, worker_log

pytestmark = pytest.mark.fault
WAIT_S = 120
# per reading: (code, severity) and what the rules make of it
KINDS = [("4.1", 3), ("3.3", 2), ("4.8", 1), ("4.13", 3), ("4.15", 1)]


def burst(patient: str, start: int, n: int) -> list[dict]:
    return [flag(patient, f"b-{i}", code=KINDS[i % len(KINDS)][0],
                 severity=KINDS[i % len(KINDS)][1]) for i in range(start, start + n)]


async def _counts(home: Home) -> tuple[int, Counter, int]:
    async with home.engine.connect() as conn:
        done = (await conn.execute(text("SELECT count(*) FROM welfare_rules_done"))).scalar_one()
        rows = (await conn.execute(text("""
            SELECT type, envelope->'data'->>'task_id' FROM events
             WHERE type IN ('welfare.AlertRaised', 'welfare.TaskCreated')"""))).all()
    tasks = Counter(r[1] for r in rows if r[0] == "welfare.TaskCreated")
    return done, tasks, sum(1 for r in rows if r[0] == "welfare.AlertRaised")


async def test_sigkill_during_a_burst_processes_every_reading_once(
        home: Home, database_url, kafka_bootstrap, unique, tmp_path):
    patient = await home.ready("alarm-k", ALARM)
    alarm = home.device("alarm-k")
    r = await home.api.post("/ingest", headers=alarm, json=batch(*burst(patient, 0, 100)))
    assert r.status_code == 201, r.text

    app_id = f"welfare-{unique}"
    await coordinator_ready(kafka_bootstrap, app_id)
    datadir = tmp_path / "w"
    worker = spawn_worker(home, database_url, kafka_bootstrap, app_id, datadir)
    try:
        async def started() -> None:
            assert (await _counts(home))[0] > 0
        await passes(started, WAIT_S, 0.02)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        # the burst goes on while the worker is down
        for start in (100, 200):
            r = await home.api.post("/ingest", headers=alarm,
                                    json=batch(*burst(patient, start, 100)))
            assert r.status_code == 201, r.text
        worker = spawn_worker(home, database_url, kafka_bootstrap, app_id, datadir)

        async def all_done() -> None:
            assert (await _counts(home))[0] == 300
        await passes(all_done, WAIT_S)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- worker log ---\n{worker_log(datadir)}") from exc
    finally:
        stop(worker)
    _, tasks, alerts = await _counts(home)
    red = sum(1 for i in range(300) if KINDS[i % len(KINDS)][1] == 3)
    missed = sum(1 for i in range(300) if KINDS[i % len(KINDS)][0] == "3.3")
    assert alerts == red
    assert len(tasks) == red + missed and set(tasks.values()) == {1}
