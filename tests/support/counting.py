"""An event store that counts the events its loads hand back: what a cold load of a stream costs
(tests of snapshots, on the in-memory store and on PostgreSQL alike). Everything else is the
wrapped store's own."""

from __future__ import annotations


class CountingStore:
    def __init__(self, store):
        self._store, self.loaded = store, 0

    def __getattr__(self, name):
        return getattr(self._store, name)

    async def load(self, stream_id, after_version=0, up_to_version=None):
        events = await self._store.load(stream_id, after_version, up_to_version)
        self.loaded += len(events)
        return events
