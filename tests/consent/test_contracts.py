"""The consent service must be able to decode every topic it reads. Its registry is built only
from the event modules its manifest lists (``Registry.of``), so an event module it forgot is a
failure here, not valid events sent to the dead-letter topic at run time."""

from __future__ import annotations

from libs.web.manifest import same_topic
from services.consent.manifest import MANIFEST
from services.consent.projections.journal_bridge import HANDLED


def test_the_consent_service_decodes_every_topic_it_reads():
    # consent.events (access facts, access log), audit.access (access log), journal.events
    topics = {t for p in MANIFEST.projections(same_topic) for t in p.topics}
    assert topics == {"consent.events", "audit.access", "journal.events"}
    registry = MANIFEST.registry()
    assert topics <= {p.topic for p in registry.payloads.values()}


def test_the_journal_bridge_decodes_every_journal_event_it_handles():
    assert HANDLED <= set(MANIFEST.registry().payloads)
