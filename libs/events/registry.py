"""Payload types registered by name and schema version, and upcasters for old versions.

A service declares its events once::

    @event("medication.DoseChanged", version=2)
    class DoseChanged(EventPayload):
        entry_id: UUID
        dose: Dose

    @upcaster("medication.DoseChanged", from_version=1)
    def dose_v1_to_v2(data: dict) -> dict:
        return data | {"dose": {"amount": data.pop("amount"), "unit": "mg"}}

Readers always get the newest version: an event stored at version 1 is passed through each
upcaster in turn before the payload model parses it. Old events must stay readable forever.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from libs.events.envelope import Envelope

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class EventPayload(BaseModel):
    """Base of every event payload: an immutable, past-tense fact."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int]
    topic: ClassVar[str]


class UnknownEventType(LookupError):
    pass


class EventDecodeError(ValueError):
    """The bytes are not a readable event (bad JSON, unknown type, payload fails validation)."""


@dataclass
class Registry:
    payloads: dict[str, type[EventPayload]] = field(default_factory=dict)
    upcasters: dict[tuple[str, int], Upcaster] = field(default_factory=dict)

    def register(self, cls: type[EventPayload]) -> None:
        existing = self.payloads.get(cls.event_type)
        if existing is not None and existing is not cls and (
            existing.__module__, existing.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"event type {cls.event_type} is registered twice")
        self.payloads[cls.event_type] = cls

    def payload_type(self, event_type: str) -> type[EventPayload]:
        try:
            return self.payloads[event_type]
        except KeyError:
            raise UnknownEventType(f"no payload type registered for {event_type!r}") from None

    def upcast(self, event_type: str, version: int, data: dict[str, Any]) -> dict[str, Any]:
        target = self.payload_type(event_type).schema_version
        if version > target:
            raise EventDecodeError(
                f"{event_type} v{version} is newer than this reader (v{target}); upgrade the reader")
        while version < target:
            step = self.upcasters.get((event_type, version))
            if step is None:
                raise EventDecodeError(f"no upcaster for {event_type} from v{version}")
            try:
                data = step(dict(data))
            except Exception as exc:  # an old event the upcaster cannot read is poison
                raise EventDecodeError(f"{event_type} v{version} cannot be upcast: "
                                       f"{type(exc).__name__}") from exc
            version += 1
        return data

    def decode(self, raw: bytes | str) -> tuple[Envelope, EventPayload]:
        """Parse wire bytes into the envelope (at the current version) and its typed payload."""
        try:
            env = Envelope.model_validate_json(raw)
        except ValidationError as exc:
            raise EventDecodeError(f"not an event envelope: {_short(exc)}") from exc
        return self.load(env)

    def load(self, env: Envelope) -> tuple[Envelope, EventPayload]:
        try:
            cls = self.payload_type(env.type)
        except UnknownEventType as exc:
            raise EventDecodeError(str(exc)) from exc
        data = self.upcast(env.type, env.schema_version, env.data)
        try:
            payload = cls.model_validate(data)
        except ValidationError as exc:
            raise EventDecodeError(f"{env.type} payload is invalid: {_short(exc)}") from exc
        if env.schema_version != cls.schema_version:
            env = env.model_copy(update={"schema_version": cls.schema_version, "data": data})
        return env, payload


def _short(exc: ValidationError) -> str:
    # field locations and messages only: input values may hold personal data
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}"
                     for e in exc.errors(include_input=False))[:500]


REGISTRY = Registry()

P = TypeVar("P", bound=type[EventPayload])


def event(event_type: str, version: int = 1, topic: str | None = None,
          registry: Registry = REGISTRY) -> Callable[[P], P]:
    """Register a payload class under its type name and current schema version."""
    if "." not in event_type:
        raise ValueError("event types are '<service>.<PastTenseName>'")

    def wrap(cls: P) -> P:
        cls.event_type = event_type
        cls.schema_version = version
        cls.topic = topic or f"{event_type.split('.', 1)[0]}.events"
        registry.register(cls)
        return cls

    return wrap


def upcaster(event_type: str, from_version: int,
             registry: Registry = REGISTRY) -> Callable[[Upcaster], Upcaster]:
    def wrap(fn: Upcaster) -> Upcaster:
        registry.upcasters[(event_type, from_version)] = fn
        return fn

    return wrap
