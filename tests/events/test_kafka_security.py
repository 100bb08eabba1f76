"""The application's Kafka clients on a broker that only speaks SASL_SSL with SCRAM-SHA-512, as
a Strimzi cluster with a TLS listener and KafkaUsers does (issue 16).

One secured broker per module (libs/devstack/secure_kafka.py); the clients are built exactly as
in production, from :class:`Settings` via ``effective_kafka`` and ``create_app``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text

from libs.config import REPO_ROOT, Settings
from libs.devstack.procs import free_port
from libs.devstack.secure_kafka import SecuredKafka, make_authority
from libs.events.envelope import Actor
from libs.events.faust_app import agent, create_app
from libs.events.kafka_admin import admin_client, apply_topics
from libs.events.kafka_client import KafkaAccessError, client_options
from libs.events.projection import ProjectionRunner
from libs.events.relay import OutboxRelay
from libs.events.store import EventContext, EventStore
from libs.events.topics import TopicSpec, all_topics
from tests.support.bank import AccountOpened, BalanceProjection, Deposited, stream_of
from tests.support.bank import EVENTS as BANK_EVENTS
from tests.support.waiting import passes

pytestmark = pytest.mark.stack

USER, PASSWORD = "ehr-app", "scram-" + uuid.uuid4().hex   # a fresh secret: found only if leaked
ACTOR = Actor(kind="system", id="test")
WAIT_S = 60


@pytest.fixture(scope="module")
def broker() -> Iterator[SecuredKafka]:
    base = REPO_ROOT / ".local" / "test-secured-kafka" / uuid.uuid4().hex[:8]
    # the certificate names 127.0.0.1 only: "localhost" is a name it does not carry
    kafka = SecuredKafka(base, free_port(), free_port(), REPO_ROOT / ".cache", heap="256m",
                         users={USER: PASSWORD},
                         authority=make_authority(base / "tls", hosts=("127.0.0.1",)))
    try:
        kafka.start()
        yield kafka
    finally:
        kafka.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    """The KafkaUser's password as Strimzi's Secret mounts it: a file named ``password``."""
    path = tmp_path / "kafka-user" / "password"
    path.parent.mkdir()
    path.write_text(PASSWORD)
    return path


def secured(broker: SecuredKafka, password_file: Path, **changes) -> Settings:
    assert broker.authority is not None
    return Settings(**({
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_mechanism": "SCRAM-SHA-512", "kafka_sasl_username": USER,
        "kafka_sasl_password_file": password_file, "kafka_ssl_cafile": broker.authority.ca_file,
    } | changes))


@pytest.fixture
def settings(broker: SecuredKafka, password_file: Path) -> Settings:
    return secured(broker, password_file)


@pytest.fixture
def every_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record of every logger, debug included (aiokafka, faust, ours)."""
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_password_not_logged(caplog: pytest.LogCaptureFixture, broker: SecuredKafka) -> None:
    lines = [r.getMessage() for r in caplog.records]
    lines += [repr(r.args) for r in caplog.records]
    assert lines, "nothing was logged: the check would prove nothing"
    assert not [line for line in lines if PASSWORD in line]
    assert PASSWORD not in broker.log.read_text(errors="replace")


async def make_topic(settings: Settings, base: str, partitions: int = 3) -> str:
    name = f"{base}.{uuid.uuid4().hex[:8]}"
    await apply_topics(settings.effective_kafka,
                       all_topics((TopicSpec(name, partitions, "secured test topic"),)))
    return name


async def balances(engine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT stream_id, balance FROM bank_balances"))
        return {row[0]: row[1] for row in rows}


async def test_relay_and_projection_round_trip_over_sasl_ssl(
        broker, settings, engine, database_url, schema, every_log):
    kafka = settings.effective_kafka
    topic = await make_topic(settings, "bank.events")
    store = EventStore(engine, BANK_EVENTS, topic_names={"bank.events": topic})
    expected = {}
    for n in range(4):
        sid = stream_of(uuid.uuid4())
        context = EventContext(patient_id=uuid.uuid4(), actor=ACTOR)
        await store.append(sid, 0, [AccountOpened(owner="o")], context)
        await store.append(sid, 1, [Deposited(amount_ore=100 + n)], context)
        expected[sid] = 100 + n

    relay = OutboxRelay(database_url, schema, kafka, poll_interval_s=0.2)
    runner = ProjectionRunner(BalanceProjection(topic), engine, kafka, registry=BANK_EVENTS)
    relay_task = asyncio.create_task(relay.run())
    try:
        await runner.start()
        runner_task = asyncio.create_task(runner.run())
        try:
            async def folded() -> None:
                assert await balances(engine) == expected

            await passes(folded, timeout_s=WAIT_S)
        finally:
            await runner.stop()
            await runner_task
    finally:
        relay.stop()
        await relay_task
    assert relay.stats.published == 8 and relay.stats.backlog == 0
    assert runner.stats.applied == 8 and runner.stats.dead_lettered == 0
    assert any("Authenticated as ehr-app via SCRAM-SHA-512" in r.getMessage()
               for r in every_log.records)
    assert_password_not_logged(every_log, broker)


async def test_faust_app_round_trip_over_sasl_ssl(broker, settings, tmp_path, every_log):
    kafka = settings.effective_kafka
    source = await make_topic(settings, "faustsecure.in", 1)
    sink = await make_topic(settings, "faustsecure.out", 1)
    app = create_app(f"faustsecure-{uuid.uuid4().hex[:8]}", settings, datadir=tmp_path,
                     web_port=free_port(), broker_commit_interval=0.5)

    @agent(app, source, sink=[app.topic(sink)])
    async def doubled(stream):
        async for value in stream:
            yield {"twice": value["n"] * 2}

    producer = AIOKafkaProducer(**client_options(kafka), acks="all")
    await producer.start()
    try:
        for n in (1, 2, 3):
            await producer.send_and_wait(source, json.dumps({"n": n}).encode(), key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(sink, **client_options(kafka), auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    got: list[dict] = []
    try:
        await asyncio.wait_for(app.start(), WAIT_S)
        try:
            async def all_doubled() -> None:
                batch = await consumer.getmany(timeout_ms=200)
                got.extend(json.loads(r.value) for rs in batch.values() for r in rs)
                assert got == [{"twice": 2}, {"twice": 4}, {"twice": 6}]

            await passes(all_doubled, timeout_s=WAIT_S)
        finally:
            await asyncio.wait_for(app.stop(), WAIT_S)
    finally:
        await consumer.stop()
    assert_password_not_logged(every_log, broker)


async def test_a_wrong_password_is_refused_at_once_with_a_readable_error(
        broker, password_file, tmp_path, every_log):
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-" + PASSWORD)
    settings = secured(broker, password_file, kafka_sasl_password_file=wrong)
    with pytest.raises(KafkaAccessError) as refused:
        # a long timeout: refused credentials must not wait for it
        await asyncio.wait_for(admin_client(settings.effective_kafka, timeout_s=600), 60)
    message = str(refused.value)
    assert f"refused user '{USER}' (SCRAM-SHA-512)" in message
    assert "EHR_KAFKA_SASL_PASSWORD_FILE" in message
    assert PASSWORD not in message
    assert_password_not_logged(every_log, broker)


async def test_plain_text_to_the_secured_listener_is_refused_with_a_readable_error(broker):
    settings = Settings(KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap)
    with pytest.raises(KafkaAccessError) as refused:
        await asyncio.wait_for(admin_client(settings.effective_kafka, timeout_s=3), 60)
    assert "EHR_KAFKA_SECURITY_PROTOCOL=PLAINTEXT" in str(refused.value)
    assert "wants TLS or SASL" in str(refused.value)


async def test_an_untrusted_broker_certificate_is_refused(broker, password_file):
    # the system's CAs do not know the test cluster's CA
    settings = secured(broker, password_file, kafka_ssl_cafile=None)
    with pytest.raises(KafkaAccessError) as refused:
        await asyncio.wait_for(admin_client(settings.effective_kafka, timeout_s=600), 60)
    assert "certificate is not trusted" in str(refused.value)
    assert "EHR_KAFKA_SSL_CAFILE" in str(refused.value)


async def test_the_brokers_name_is_verified_unless_switched_off(broker, password_file):
    by_another_name = f"localhost:{broker.port}"
    checked = secured(broker, password_file, KAFKA_BOOTSTRAP_SERVERS=by_another_name)
    with pytest.raises(KafkaAccessError) as refused:
        await asyncio.wait_for(admin_client(checked.effective_kafka, timeout_s=600), 60)
    assert "Hostname mismatch" in str(refused.value)
    assert "EHR_KAFKA_SSL_CHECK_HOSTNAME" in str(refused.value)
    unchecked = secured(broker, password_file, KAFKA_BOOTSTRAP_SERVERS=by_another_name,
                        kafka_ssl_check_hostname=False)
    admin = await asyncio.wait_for(admin_client(unchecked.effective_kafka, timeout_s=30), 60)
    await admin.close()


async def test_relay_with_a_wrong_password_keeps_the_writes_and_says_why(
        broker, password_file, tmp_path, engine, database_url, schema, every_log):
    topic = await make_topic(secured(broker, password_file), "bank.events", 1)
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-" + PASSWORD)
    kafka = secured(broker, password_file, kafka_sasl_password_file=wrong).effective_kafka
    store = EventStore(engine, BANK_EVENTS, topic_names={"bank.events": topic})
    sid = stream_of(uuid.uuid4())
    await store.append(sid, 0, [AccountOpened(owner="o")],
                       EventContext(patient_id=uuid.uuid4(), actor=ACTOR))
    relay = OutboxRelay(database_url, schema, kafka, poll_interval_s=0.2)
    task = asyncio.create_task(relay.run())
    try:
        def explained() -> None:
            warnings = [r.getMessage() for r in every_log.records
                        if r.name == "libs.events.relay" and r.levelno == logging.WARNING]
            assert any(f"refused user '{USER}'" in w for w in warnings), warnings

        await passes(explained, timeout_s=WAIT_S)
    finally:
        relay.stop()
        await task
    assert relay.stats.published == 0
    async with engine.connect() as conn:
        waiting = (await conn.execute(text(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL"))).scalar_one()
    assert waiting == 1   # acknowledged, kept, published once the Secret is fixed
    assert_password_not_logged(every_log, broker)

