"""SIGKILL of the faust worker mid-stream: restarted, it goes on from the committed offsets
with the parts committed in PostgreSQL, sees some events again and counts none of them twice;
the people it ends with equal a from-scratch fold of every event."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from libs.devstack.procs import free_port
from services.registry_export.state import PersonsView
from tests.registry_export.conftest import PARTITIONS
from tests.registry_export.support import (
    accesses, comparable, coordinator_ready, municipality, produce, replay, spawn_worker,
)
from tests.support.waiting import eventually, passes

pytestmark = pytest.mark.fault
WAIT_S = 120


async def test_sigkill_mid_stream_counts_nothing_twice(kafka_bootstrap, database_url, schema,
                                                       engine, sources, unique, tmp_path):
    journal = municipality(150, 2025, seed=7)
    people = sorted({e.patient_id for e in journal}, key=str)
    audit = [e for pid in people for e in accesses(pid, 4)]
    half = len(journal) // 2
    await produce(kafka_bootstrap, sources["journal.events"], journal[:half])
    await produce(kafka_bootstrap, sources["audit.access"], audit[: len(audit) // 2])

    app_id = f"registry-{unique}"
    args = (kafka_bootstrap, database_url, schema, app_id, sources, str(tmp_path), PARTITIONS)
    await coordinator_ready(kafka_bootstrap, app_id)
    worker = spawn_worker(*args, free_port())
    try:
        async with PersonsView(engine, app_id) as view:
            await eventually(lambda: _some(view, 20), WAIT_S, 0.02, "before the kill")
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(10)
            partial = len(await view.catch_up())
            await produce(kafka_bootstrap, sources["journal.events"], journal[half:])
            await produce(kafka_bootstrap, sources["audit.access"], audit[len(audit) // 2:])

            worker = spawn_worker(*args, free_port())
            expected = comparable(replay(journal + audit))

            async def agrees():
                assert comparable(await view.catch_up()) == expected
            await passes(agrees, WAIT_S)
    except Exception as exc:   # say what the workers said: a failure here must be diagnosable
        log = Path(f"{tmp_path}.log")
        tail = log.read_text(errors="replace")[-4000:] if log.exists() else "(no log)"
        raise AssertionError(f"{exc}\n--- the workers' log, its end ---\n{tail}") from exc
    finally:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(10)
    assert 0 < partial < len(people)
    assert sum(p["accesses"] for p in expected.values()) == len(audit)


async def _some(view: PersonsView, n: int) -> bool:
    return len(await view.catch_up()) >= n
