"""Payload types registered by name and schema version, and upcasters for old versions.

A service declares its events once, and its manifest lists the modules they are in::

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
from types import ModuleType
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

    @classmethod
    def of(cls, *modules: ModuleType) -> Registry:
        """The registry of the event classes and upcasters in ``modules`` (defined there or
        re-exported, as a contract package does): a service's
        manifest names the modules of every event it decodes, so nothing depends on what
        happened to be imported."""
        registry = cls()
        for module in modules:   # a contract package re-exports its submodules' events
            for value in vars(module).values():
                if isinstance(value, type) and issubclass(value, EventPayload) \
                        and "event_type" in vars(value):
                    registry.register(value)
                elif callable(value) and hasattr(value, "upcasts"):
                    registry.upcasters[value.upcasts] = value
        return registry

    def merged(self, *others: Registry) -> Registry:
        out = Registry(dict(self.payloads), dict(self.upcasters))
        for other in others:
            for payload in other.payloads.values():
                out.register(payload)
            out.upcasters.update(other.upcasters)
        return out

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


P = TypeVar("P", bound=type[EventPayload])


def event(event_type: str, version: int = 1, topic: str | None = None,
          registry: Registry | None = None) -> Callable[[P], P]:
    """Name a payload class: its type, current schema version and topic. Nothing registers
    by importing it: a service's registry is built from the modules its manifest lists
    (``Registry.of``); ``registry`` adds it to one now (tests)."""
    if "." not in event_type:
        raise ValueError("event types are '<service>.<PastTenseName>'")

    def wrap(cls: P) -> P:
        cls.event_type = event_type
        cls.schema_version = version
        cls.topic = topic or f"{event_type.split('.', 1)[0]}.events"
        if registry is not None:
            registry.register(cls)
        return cls

    return wrap


def upcaster(event_type: str, from_version: int,
             registry: Registry | None = None) -> Callable[[Upcaster], Upcaster]:
    """Mark a function as the step from ``from_version`` to the next (found by
    ``Registry.of`` in the same module as its event)."""
    def wrap(fn: Upcaster) -> Upcaster:
        fn.upcasts = (event_type, from_version)   # type: ignore[attr-defined]
        if registry is not None:
            registry.upcasters[(event_type, from_version)] = fn
        return fn

    return wrap
