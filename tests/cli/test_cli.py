"""The ehr command against the real servers of the test session."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from typer.testing import CliRunner

from libs.config import get_settings
from cli.main import app, build_app
from cli.manifests import MANIFESTS
from libs.events.envelope import Actor
from libs.events.relay import OutboxRelay
from libs.events.store import EventContext, EventStore
from libs.events.topics import all_topics
from tests.support import bank
from tests.support.bank import AccountOpened, Deposited, stream_of
from tests.support.waiting import eventually

runner = CliRunner()



def invoke(*args: str, command=app):
    # the CLI runs its own event loop; keep it off the test's loop
    return runner.invoke(command, list(args), catch_exceptions=False)


async def test_topics_apply_creates_then_reports_ok(cli_env):
    first = await asyncio.to_thread(invoke, "topics", "apply")
    assert first.exit_code == 0, first.output
    second = await asyncio.to_thread(invoke, "topics", "apply")
    assert second.exit_code == 0, second.output
    for t in all_topics():
        assert t.name in second.output
    assert "created" not in second.output and "differs" not in second.output


async def test_db_migrate_is_idempotent(cli_env, unique):
    for _ in range(2):
        res = await asyncio.to_thread(invoke, "db", "migrate", "--schema", f"cli_{unique}")
        assert res.exit_code == 0, res.output
    assert f"cli_{unique}" in res.output


async def test_replay_rebuilds_a_read_model_and_reports_counts(
        cli_env, engine, database_url, schema, kafka_bootstrap, make_topics):
    topic = await make_topics("bank.events", 2)
    store = EventStore(engine, bank.EVENTS, topic_names={"bank.events": topic})
    for _ in range(3):
        sid = stream_of(uuid.uuid4())
        c = EventContext(patient_id=uuid.uuid4(), actor=Actor(kind="system", id="t"))
        await store.append(sid, 0, [AccountOpened(owner="x"), Deposited(amount_ore=5)], c)
    relay = OutboxRelay(database_url, schema, kafka_bootstrap, poll_interval_s=0.2)
    task = asyncio.create_task(relay.run())
    await eventually(lambda: relay.stats.published == 6)
    relay.stop()
    await task
    with_bank = build_app((*MANIFESTS, bank.manifest(topic)))
    res = await asyncio.to_thread(invoke, "replay", "bank_balances", "--schema", schema,
                                  command=with_bank)
    assert res.exit_code == 0, res.output
    assert "6 events applied" in res.output


async def test_replay_of_unknown_projection_says_which_exist(cli_env):
    res = await asyncio.to_thread(invoke, "replay", "nope", "--schema", "x",
                                  command=build_app((*MANIFESTS, bank.manifest())))
    assert res.exit_code == 1
    assert "no projection named 'nope'" in res.output and "bank_balances" in res.output


def test_missing_java_is_one_clear_sentence(monkeypatch):
    from libs.devstack import kafka as k
    from libs.devstack.errors import StackError

    monkeypatch.setattr(k.shutil, "which", lambda name: None)
    with pytest.raises(StackError, match="Java 17 or newer is needed"):
        k.check_java()


@pytest.mark.stack   # waits for a real connection attempt to time out: not a pure test
async def test_unreachable_kafka_is_one_clear_sentence(monkeypatch):
    from libs.devstack.procs import free_port

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("EHR_KAFKA_CONNECT_TIMEOUT_S", "2")   # the sentence, not the wait
    get_settings.cache_clear()
    try:
        res = await asyncio.to_thread(invoke, "topics", "apply")
    finally:
        get_settings.cache_clear()
    assert res.exit_code == 1
    assert "cannot reach Kafka at 127.0.0.1:" in res.output and "ehr dev up" in res.output
    assert "Traceback" not in res.output
