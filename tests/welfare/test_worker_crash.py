"""SIGKILL of the alert rules' worker during a burst: after a restart every acknowledged reading
has been processed exactly once: each alert raised once, no task duplicated, none lost. And
between the second and third low SpO2 reading of a window: the window comes back from
PostgreSQL and fires once. On a failure the report says where the worker stood (its group's
offsets, its asyncio tasks), as a stalled consumer leaves no other trace."""

from __future__ import annotations

import os
import signal
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.registry_export.support import coordinator_ready
from tests.support.waiting import passes
from tests.welfare.conftest import (ALARM, MONITOR, Home, batch, flag, group_offsets,
                                   observation, spawn_worker, stop, stuck_report,
                                   worker_log)

pytestmark = pytest.mark.fault
WAIT_S = 120
# per reading: (code, severity) and what the rules make of it
KINDS = [("4.1", 3), ("3.3", 2), ("4.8", 1), ("4.13", 3), ("4.2", 1)]   # none a night rule


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
        report = await stuck_report(home, worker, kafka_bootstrap, app_id, datadir)
        raise AssertionError(f"{exc}\n{report}") from exc
    finally:
        stop(worker)
    _, tasks, alerts = await _counts(home)
    red = sum(1 for i in range(300) if KINDS[i % len(KINDS)][1] == 3)
    missed = sum(1 for i in range(300) if KINDS[i % len(KINDS)][0] == "3.3")
    assert alerts == red
    assert len(tasks) == red + missed and set(tasks.values()) == {1}


async def _caught_up(bootstrap: str, group: str, topic: str) -> None:
    """The worker's group has committed every message now on ``topic``: nothing before is seen
    again after a restart, so what it knew of them can only come from the windows it recorded."""
    offsets = await group_offsets(bootstrap, group, topic)
    assert any(got is not None for _, got in offsets.values()), offsets
    assert all((got or 0) >= end for end, got in offsets.values()), offsets


def _low(patient: str, n: int, at: datetime) -> dict:
    return observation(patient, f"spo2-{n}", value=89, at=at + timedelta(seconds=n))


async def test_low_spo2_window_survives_a_sigkill_between_the_second_and_third_reading(
        home: Home, database_url, kafka_bootstrap, unique, tmp_path):
    patient = await home.ready("tablet-k", MONITOR)
    tablet = home.device("tablet-k")
    # all in one 6-hour window (aligned to midnight UTC), in the past
    start = datetime.now(UTC) - timedelta(minutes=5)
    start -= timedelta(hours=start.hour % 6, minutes=start.minute, seconds=start.second,
                       microseconds=start.microsecond)
    r = await home.api.post("/ingest", headers=tablet,
                            json=batch(_low(patient, 1, start), _low(patient, 2, start)))
    assert r.status_code == 201, r.text

    app_id = f"welfare-{unique}"
    await coordinator_ready(kafka_bootstrap, app_id)
    worker = spawn_worker(home, database_url, kafka_bootstrap, app_id, tmp_path / "w1")
    logs = tmp_path / "w1"
    try:
        async def two_counted_and_committed() -> None:
            assert (await _counts(home))[0] == 2
            await _caught_up(kafka_bootstrap, app_id, home.topics["welfare.events"])
        await passes(two_counted_and_committed, WAIT_S, 0.2)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        r = await home.api.post("/ingest/Observation", headers=tablet,
                                json=_low(patient, 3, start))
        assert r.status_code == 201, r.text
        # no local files, nothing seen again: the windows come back from PostgreSQL only
        logs = tmp_path / "w2"
        worker = spawn_worker(home, database_url, kafka_bootstrap, app_id, logs)

        async def fired() -> None:
            assert (await _counts(home))[0] == 3
            assert [t["title"] for t in await home.tasks(patient)] == [
                "SpO2 under 92 % i 3 målinger"]
        await passes(fired, WAIT_S, 0.2)
        # a fourth low value in the same window fires nothing more
        r = await home.api.post("/ingest/Observation", headers=tablet,
                                json=_low(patient, 4, start))
        assert r.status_code == 201, r.text

        async def four_counted() -> None:
            assert (await _counts(home))[0] == 4
        await passes(four_counted, WAIT_S, 0.2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- worker log ---\n{worker_log(logs)}") from exc
    finally:
        stop(worker)
    _, tasks, alerts = await _counts(home)
    assert len(tasks) == 1 and set(tasks.values()) == {1} and alerts == 0
