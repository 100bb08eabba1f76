"""The relay's partitioner, pure: the partition aiokafka's default partitioner (Kafka's
murmur2) gives every key, so a patient's events stay on the partition they always had."""

from __future__ import annotations

import uuid

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.events.relay import _key_hash, partition_for

KEYS = st.one_of(st.uuids().map(lambda u: str(u).encode()), st.binary(max_size=64))


@settings(max_examples=400, deadline=None)
@given(KEYS, st.integers(1, 48))
def test_a_keyed_event_goes_where_the_default_partitioner_sends_it(key, partitions):
    all_partitions = list(range(partitions))
    expected = DefaultPartitioner()(key, all_partitions, all_partitions)
    assert partition_for(key, all_partitions, all_partitions) == expected
    assert partition_for(key, all_partitions, all_partitions) == expected   # remembered


def test_one_patients_events_share_a_partition_and_patients_spread():
    parts = list(range(12))
    patients = [str(uuid.uuid4()).encode() for _ in range(600)]
    remembered = [partition_for(p, parts, parts) for p in patients]
    _key_hash.cache_clear()   # computed afresh, as after a restart: the same partitions
    assert all(partition_for(p, parts, parts) == remembered[i]
               for i, p in enumerate(patients))
    assert len({partition_for(p, parts, parts) for p in patients}) == 12


def test_an_event_without_a_key_goes_to_an_available_partition():
    assert {partition_for(None, list(range(12)), [3, 7]) for _ in range(50)} <= {3, 7}
