"""What a service is, declared in one place (``services/<name>/manifest.py``), so the ``ehr``
command, the projection index and the tests walk services instead of naming modules in strings.

- ``events``: the modules of every event the service decodes (its own contract and the
  contracts of the topics it reads); its registry is built from exactly these, so an event
  type it reads but did not list fails a test rather than going to the DLQ at run time.
- ``projections``: its read models, built for the topic names in use.
- ``create_app``: its composition root; ``settings``: its settings class, with ``port``
  naming the setting that holds its port.
- ``commands``: ``ehr`` sub-commands it adds (name, Typer app).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from libs.config import Settings
from libs.events.read_model import Projection
from libs.events.registry import Registry

TopicOf = Callable[[str], str]   # catalogue name -> the topic in use (tests rename them)


def same_topic(name: str) -> str:
    return name


@dataclass(frozen=True)
class Manifest:
    name: str
    title: str
    events: tuple[ModuleType, ...]
    projections: Callable[[TopicOf], Sequence[Projection]]
    create_app: Callable[..., Any] | None = None   # None: no HTTP API (a worker)
    settings: type[Settings] = Settings
    port: str | None = None
    commands: tuple[tuple[str, Any], ...] = ()
    stream_worker: tuple[str, ...] = ()
    """the ``ehr`` arguments of its faust stream worker (the chart's ``streamWorker.args``;
    ``ehr services start`` runs it too); empty: it has none"""

    def registry(self) -> Registry:
        return Registry.of(*self.events)

    def projection_names(self) -> list[str]:
        return [p.name for p in self.projections(same_topic)]
