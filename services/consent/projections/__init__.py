"""The consent service's read models and process managers, one module each:

- ``access_log``: every service's access-log entries and the unit leader's review items;
- ``journal_bridge``: the journal's episodes and service decisions as care relations.

It also runs the shared ``access_facts`` (``libs/audit/facts_store.py``), like every service.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from libs.audit.facts_store import AccessFactsProjection
from libs.events.read_model import Projection
from libs.events.registry import Registry
from services.consent.projections.access_log import AccessLogProjection
from services.consent.projections.journal_bridge import JournalBridge


def build(topic_of: Callable[[str], str], registry: Registry, *,
          stream_of: Callable[[UUID], str], claims: str) -> list[Projection]:
    """The service's projections on the topics in use. ``registry`` is the service's own, and
    ``stream_of`` and ``claims`` its store's names: the bridge appends to the patients' streams
    and claims their national ids, like the store."""
    consent = topic_of("consent.events")
    return [AccessFactsProjection(consent),
            AccessLogProjection(topic_of("audit.access"), consent),
            JournalBridge(registry, topic_of("journal.events"), {"consent.events": consent},
                          stream_of=stream_of, claims=claims)]
