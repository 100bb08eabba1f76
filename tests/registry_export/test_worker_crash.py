"""SIGKILL of the faust worker mid-stream: restarted, it restores its table from the changelog,
goes on from the committed offsets, sees some events again and counts none of them twice; the
people it ends with equal a from-scratch fold of every event."""

from __future__ import annotations

import os
import signal
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError

from libs.devstack.procs import free_port
from services.registry_export.state import PersonsView
from services.registry_export.worker import changelog_topic
from tests.registry_export.conftest import PARTITIONS
from tests.registry_export.support import (
    accesses, comparable, municipality, produce, replay, spawn_worker,
)
from tests.support.waiting import eventually, passes

pytestmark = pytest.mark.fault
WAIT_S = 120


async def test_sigkill_mid_stream_counts_nothing_twice(kafka_bootstrap, sources, unique,
                                                       tmp_path):
    journal = municipality(150, 2025, seed=7)
    people = sorted({e.patient_id for e in journal}, key=str)
    audit = [e for pid in people for e in accesses(pid, 4)]
    half = len(journal) // 2
    await produce(kafka_bootstrap, sources["journal.events"], journal[:half])
    await produce(kafka_bootstrap, sources["audit.access"], audit[: len(audit) // 2])

    app_id = f"registry-{unique}"
    args = (kafka_bootstrap, app_id, sources, str(tmp_path), PARTITIONS)
    worker = spawn_worker(*args, free_port())
    try:
        async with PersonsView(kafka_bootstrap, changelog_topic(app_id)) as view:
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
    finally:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(10)
    assert 0 < partial < len(people)
    assert sum(p["accesses"] for p in expected.values()) == len(audit)


async def _some(view: PersonsView, n: int) -> bool:
    return len(await view.catch_up()) >= n


async def test_two_workers_share_partitions_and_take_over_without_double_counting(
        kafka_bootstrap, sources, unique, tmp_path):
    journal = municipality(120, 2025, seed=9)
    people = sorted({e.patient_id for e in journal}, key=str)
    audit = [e for pid in people for e in accesses(pid, 3)]
    early = set(people[:80])          # a patient's events all come in one batch, in order
    app_id = f"registry-{unique}"
    one = spawn_worker(kafka_bootstrap, app_id, sources, str(tmp_path / "one"), PARTITIONS,
                       free_port())
    two = spawn_worker(kafka_bootstrap, app_id, sources, str(tmp_path / "two"), PARTITIONS,
                       free_port())
    try:
        async with PersonsView(kafka_bootstrap, changelog_topic(app_id)) as view:
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
            expected = comparable(replay(journal + audit))

            async def agrees():
                assert comparable(await view.catch_up()) == expected
            await passes(agrees, WAIT_S)
    finally:
        for w in (one, two):
            if w.poll() is None:
                os.kill(w.pid, signal.SIGKILL)
                w.wait(10)
    assert sum(p["accesses"] for p in expected.values()) == len(audit)


async def _members(bootstrap: str, group: str, want: int) -> bool:
    """The consumer group has ``want`` members, each with partitions assigned."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        try:
            (response,) = await admin.describe_consumer_groups([group])
        except GroupCoordinatorNotAvailableError:   # the group is not formed yet
            return False
        group_state = response.to_object()["groups"][0]
        members = group_state["members"]
        return group_state["state"] == "Stable" and len(members) == want
    finally:
        await admin.close()
