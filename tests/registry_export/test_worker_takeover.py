"""Two faust workers share the partitions; one is SIGKILLed and the other takes over its
partitions, goes on from the parts committed in PostgreSQL and counts nothing twice: the people
it ends with equal a from-scratch fold of every event."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError

from libs.devstack.procs import free_port
from services.registry_export.state import PersonsView
from tests.registry_export.conftest import PARTITIONS
from tests.registry_export.support import (
    accesses, comparable, coordinator_ready, municipality, produce, replay, spawn_worker,
)
from tests.support.waiting import eventually, passes

pytestmark = pytest.mark.fault
WAIT_S = 120


async def test_two_workers_share_partitions_and_take_over_without_double_counting(
        kafka_bootstrap, database_url, schema, engine, sources, unique, tmp_path):
    journal = municipality(120, 2025, seed=9)
    people = sorted({e.patient_id for e in journal}, key=str)
    audit = [e for pid in people for e in accesses(pid, 3)]
    early = set(people[:80])          # a patient's events all come in one batch, in order
    app_id = f"registry-{unique}"
    await coordinator_ready(kafka_bootstrap, app_id)
    one = spawn_worker(kafka_bootstrap, database_url, schema, app_id, sources,
                       str(tmp_path / "one"), PARTITIONS, free_port())
    two = spawn_worker(kafka_bootstrap, database_url, schema, app_id, sources,
                       str(tmp_path / "two"), PARTITIONS, free_port())
    expected = comparable(replay(journal + audit))
    try:
        async with PersonsView(engine, app_id) as view:
            await produce(kafka_bootstrap, sources["journal.events"],
                          [e for e in journal if e.patient_id in early])
            await produce(kafka_bootstrap, sources["audit.access"], audit)
            await eventually(lambda: _members(kafka_bootstrap, app_id, 2), WAIT_S, 0.5,
                             "both workers in the group")
            await eventually(lambda: _some(view, 40), WAIT_S, 0.05, "while both run")
            os.kill(two.pid, signal.SIGKILL)     # its partitions go to the other worker
            two.wait(10)
            await produce(kafka_bootstrap, sources["journal.events"],
                          [e for e in journal if e.patient_id not in early])

            async def agrees():
                assert _differences(comparable(await view.catch_up()), expected) == []
            await passes(agrees, WAIT_S)
    except Exception as exc:   # say what the workers said: a failure must be diagnosable
        for w in (one, two):
            if w.poll() is None:
                os.kill(w.pid, signal.SIGUSR1)   # it logs where it stands (worker_proc)
        await asyncio.sleep(2)
        tails = [f"--- {name}.log ---\n" + _tail(tmp_path / f"{name}.log")
                 for name in ("one", "two")]
        raise AssertionError("\n".join([str(exc), *tails])) from exc
    finally:
        for w in (one, two):
            if w.poll() is None:
                os.kill(w.pid, signal.SIGKILL)
                w.wait(10)
    assert sum(p["accesses"] for p in expected.values()) == len(audit)


def _differences(got: dict[str, dict], want: dict[str, dict]) -> list[str]:
    """Per person, the fields that differ (missing people too), short enough to read."""
    out = []
    for key in sorted(set(got) | set(want)):
        g, w = got.get(key), want.get(key)
        if g is None or w is None:
            out.append(f"{key}: {'missing' if g is None else 'unexpected'}")
        elif g != w:
            fields = sorted(f for f in set(g) | set(w) if g.get(f) != w.get(f))
            out.append(f"{key}: {fields} accesses {g['accesses']}/{w['accesses']} "
                       f"seen {g['seen']} / {w['seen']}")
    return out


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-6000:] if path.exists() else "(no log)"


async def _some(view: PersonsView, n: int) -> bool:
    return len(await view.catch_up()) >= n


async def _members(bootstrap: str, group: str, want: int) -> bool:
    """The consumer group is stable with ``want`` members."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        try:
            (response,) = await admin.describe_consumer_groups([group])
        except GroupCoordinatorNotAvailableError:   # the group is not formed yet
            return False
        group_state = response.to_object()["groups"][0]
        return group_state["state"] == "Stable" and len(group_state["members"]) == want
    finally:
        await admin.close()
