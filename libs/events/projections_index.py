"""Projections by name, for ``ehr replay`` and ``ehr projection run``.

Services register their projection factories here when their module is imported; the modules
are listed in PROJECTION_MODULES (and ``--import`` adds more, e.g. a test projection).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from libs.events.projection import Projection

PROJECTION_MODULES: tuple[str, ...] = ("libs.access.facts_projection",
                                       "services.consent.projections",
                                       "services.consent.journal_bridge",
                                       "services.journal.projections",
                                       "services.medication.projections")
_FACTORIES: dict[str, Callable[[], Projection]] = {}


def register_projection(name: str):
    def wrap(factory: Callable[[], Projection]):
        _FACTORIES[name] = factory
        return factory

    return wrap


def load(extra_modules: list[str] | None = None) -> dict[str, Callable[[], Projection]]:
    for mod in (*PROJECTION_MODULES, *(extra_modules or [])):
        importlib.import_module(mod)
    return dict(_FACTORIES)
