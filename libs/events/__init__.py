"""The event backbone: envelope, payload registry, event store + outbox relay, projections,
consistency tokens, topic catalogue and schema export."""

from libs.events.consistency import ConsistencyToken, NotCaughtUp, wait_until_applied
from libs.events.envelope import Actor, Envelope
from libs.events.registry import EventPayload, Registry, event, upcaster
from libs.events.store import AppendResult, ConcurrencyError, EventContext, EventStore

__all__ = [
    "Actor", "AppendResult", "ConcurrencyError", "ConsistencyToken", "Envelope",
    "EventContext", "EventPayload", "EventStore", "NotCaughtUp", "Registry", "event", "upcaster",
    "wait_until_applied",
]
