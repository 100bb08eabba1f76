"""The faust app factory: its fixed settings, one agent in ``test_context`` and on a real broker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable

import faust
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from libs.config import Settings
from libs.devstack.procs import free_port
from libs.events.faust_app import agent, create_app

WAIT_S = 60


def readings_counter(app: faust.App, source: str, sink: Iterable = ()):
    """The agent under test: counts readings per patient key and yields a running count."""

    @agent(app, source, sink=list(sink))
    async def count_readings(stream):
        counts: dict[str, int] = {}
        async for key, value in stream.items():
            patient = key.decode() if isinstance(key, bytes) else key
            counts[patient] = counts.get(patient, 0) + 1
            yield {"patient": patient, "n": counts[patient], "pulse": value["pulse"]}

    return count_readings


def test_app_settings_follow_the_design(tmp_path):
    app = create_app("faustdemo", Settings(KAFKA_BOOTSTRAP_SERVERS="h1:9092, h2:9093"),
                     datadir=tmp_path)
    conf = app.conf
    assert [str(u) for u in conf.broker] == ["kafka://h1:9092", "kafka://h2:9093"]
    assert conf.id == "faustdemo"
    assert conf.processing_guarantee.value == "at_least_once"
    assert (conf.web_bind, conf.web_host) == ("127.0.0.1", "127.0.0.1")
    assert not conf.web_tables_enabled and not conf.web_router_enabled
    assert not conf.web_stats_enabled and not conf.web_graph_enabled
    assert conf.topic_allow_declare  # faust's own internal topics
    # a topic named by string is an event topic: subscribed, never declared by faust
    counter = readings_counter(app, "welfare.events")
    assert counter.channel.get_topic_name() == "welfare.events"
    assert counter.channel.internal is False
    assert counter.concurrency == 1


def test_concurrency_other_than_one_is_refused(tmp_path):
    app = create_app("faustdemo", Settings(), datadir=tmp_path)

    async def fun(stream):
        async for _ in stream:
            pass

    with pytest.raises(ValueError, match="concurrency=1"):
        agent(app, "welfare.events", concurrency=4)
    with pytest.raises(ValueError, match="concurrency=1"):
        app.agent("welfare.events", concurrency=2)(fun)  # plain faust API, same rule
    with pytest.raises(ValueError, match="fixed"):
        create_app("faustdemo", Settings(), processing_guarantee="exactly_once")
    with pytest.raises(ValueError, match="fixed"):
        create_app("faustdemo", Settings(), web_bind="0.0.0.0")


async def test_agent_in_test_context(tmp_path):
    app = create_app("faustdemo-ctx", Settings(), datadir=tmp_path)
    counter = readings_counter(app, "welfare.events")
    async with counter.test_context() as ag:
        # put() waits until the agent has processed the value: bounded, so a broken agent fails
        e1 = await asyncio.wait_for(ag.put({"pulse": 71}, key="p1"), 10)
        e2 = await asyncio.wait_for(ag.put({"pulse": 90}, key="p2"), 10)
        e3 = await asyncio.wait_for(ag.put({"pulse": 73}, key="p1"), 10)
        assert ag.results[e1.message.offset] == {"patient": "p1", "n": 1, "pulse": 71}
        assert ag.results[e2.message.offset] == {"patient": "p2", "n": 1, "pulse": 90}
        assert ag.results[e3.message.offset] == {"patient": "p1", "n": 2, "pulse": 73}
        assert len(ag.results) == 3


async def test_agent_on_real_broker(kafka_bootstrap, make_topics, unique, tmp_path):
    source = await make_topics("faustdemo.in", 1)
    sink = await make_topics("faustdemo.out", 1)
    app_id = f"faustdemo-{unique}"
    app = create_app(app_id, Settings(KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap),
                     datadir=tmp_path, web_port=free_port(), broker_commit_interval=0.5)
    readings_counter(app, source, sink=[app.topic(sink)])

    sent = [("p1", 71), ("p2", 90), ("p1", 73)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for patient, pulse in sent:
            await producer.send_and_wait(source, json.dumps({"pulse": pulse}).encode(),
                                         key=patient.encode())
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(sink, bootstrap_servers=kafka_bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    got: list[dict] = []
    try:
        await asyncio.wait_for(app.start(), WAIT_S)
        try:
            deadline = asyncio.get_running_loop().time() + WAIT_S
            while len(got) < len(sent) and asyncio.get_running_loop().time() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                got += [json.loads(r.value) for rs in batch.values() for r in rs]
            # at-least-once: the offsets are committed once the agent is done with them
            committed = await _wait_committed(kafka_bootstrap, app_id, source, len(sent))
        finally:
            await asyncio.wait_for(app.stop(), WAIT_S)
    finally:
        await consumer.stop()

    assert got == [{"patient": "p1", "n": 1, "pulse": 71},
                   {"patient": "p2", "n": 1, "pulse": 90},
                   {"patient": "p1", "n": 2, "pulse": 73}]
    assert committed == len(sent)
    # faust declared its own leader topic although the broker does not auto-create topics
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        assert f"{app_id}-__assignor-__leader" in await admin.list_topics()
    finally:
        await admin.close()


async def _wait_committed(bootstrap: str, group: str, topic: str, want: int) -> int | None:
    """The group's committed offset of ``topic`` partition 0, polled until it reaches ``want``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        offset = None
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while asyncio.get_running_loop().time() < deadline:
            offset = await consumer.committed(TopicPartition(topic, 0))
            if offset is not None and offset >= want:
                break
            await asyncio.sleep(0.5)
        return offset
    finally:
        await consumer.stop()
