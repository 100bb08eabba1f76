"""Event ids (``new_event_id``, no I/O): UUIDv7 whose time is the clock's, even when many are
made in one millisecond, unique, and ordered as they were made."""

import time
import uuid

from libs.events.envelope import new_event_id


def _ms(u: uuid.UUID) -> int:
    return u.int >> 80


def test_a_burst_of_ids_keeps_the_clocks_time_unique_and_in_order():
    before = time.time_ns() // 1_000_000
    ids = [new_event_id() for _ in range(50_000)]   # many to a millisecond
    after = time.time_ns() // 1_000_000
    assert all(isinstance(u, uuid.UUID) and u.version == 7 for u in ids)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    # each id's time lies between the clock before and after: none runs ahead of it (a
    # generator that adds a millisecond per id in the same millisecond would be ~50 s ahead)
    assert before <= _ms(ids[0]) and _ms(ids[-1]) <= after, (before, _ms(ids[-1]), after)
