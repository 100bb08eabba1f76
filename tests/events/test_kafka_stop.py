"""Stopping a Kafka client gives back what comes after it (``libs/events/kafka_client.stopped``):
aiokafka's group-less consumer, stopped right after its start, raises ``CancelledError`` out of
``stop`` (aiokafka #647), which a projection runner's stop passed on, leaving its producer and
its lock, and which in a test's teardown kept every later test's fixtures (stop 42's CI run)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import ConsumerStoppedError

from libs.events.kafka_client import consumer_for, stopped


async def _started(bootstrap: str, topic: str):
    consumer = consumer_for(bootstrap)
    consumer.assign([TopicPartition(topic, p) for p in range(3)])
    await consumer.start()
    return consumer


async def test_a_consumer_stopped_right_after_its_start_is_stopped(kafka_bootstrap,
                                                                    make_topics):
    topic = await make_topics("stop.events", 3)
    plain = await _started(kafka_bootstrap, topic)
    with pytest.raises(asyncio.CancelledError):    # aiokafka's own stop: why the helper is
        await plain.stop()

    consumer = await _started(kafka_bootstrap, topic)
    await stopped(consumer)                          # returns, and the consumer is stopped
    with pytest.raises(ConsumerStoppedError):
        await consumer.getone()


async def test_a_caller_that_is_cancelled_stays_cancelled():
    class Slow:                 # a client whose stop takes long (no Kafka needed for this)
        async def stop(self) -> None:
            await asyncio.sleep(60)

    task = asyncio.create_task(stopped(Slow()))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
