"""What the consent service is (``libs/web/manifest.py``): the events it decodes, its
projections, its composition root and its settings."""

from __future__ import annotations

from typing import Any

from libs.access import events as consent_events
from libs.audit import log as audit_events
from libs.events.read_model import Projection
from libs.web.manifest import Manifest, TopicOf
from services.consent import projections, store
from services.consent.settings import ConsentSettings
from services.journal import contract as journal_events


def _projections(topic_of: TopicOf) -> list[Projection]:
    return projections.build(topic_of, MANIFEST.registry(), stream_of=store.stream_of,
                             claims=store.CLAIMS)


def _create_app(*args: Any, **kwargs: Any) -> Any:
    from services.consent.app import create_app  # noqa: PLC0415  (app.py imports this module)

    return create_app(*args, **kwargs)


MANIFEST = Manifest(
    name="consent",
    title="Consent and access: care relations, consents, blocks, emergency access, proxies, "
          "the access log",
    # consent.events (its own: the contract is defined in libs/access/events.py, see
    # contract.py), audit.access (AccessLogged, for the access log) and journal.events (the
    # bridge)
    events=(consent_events, audit_events, journal_events),
    projections=_projections,
    create_app=_create_app,
    settings=ConsentSettings,
    port="consent_port",
)
