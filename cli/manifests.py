"""Every service of the system, by its manifest: the one list the ``ehr`` command, the
projection index, the schema export and the architecture tests walk. A new service adds its
manifest here (README, "How to add a service")."""

from __future__ import annotations

from libs.access import events as consent_contract
from libs.audit import log as access_log_contract
from libs.events.registry import EventPayload, Registry
from libs.web.manifest import Manifest
from services.citizen.manifest import MANIFEST as CITIZEN
from services.consent.manifest import MANIFEST as CONSENT
from services.journal.manifest import MANIFEST as JOURNAL
from services.medication.manifest import MANIFEST as MEDICATION
from services.registry_export.manifest import MANIFEST as REGISTRY_EXPORT
from services.welfare.manifest import MANIFEST as WELFARE
from services.workspace.manifest import MANIFEST as WORKSPACE

MANIFESTS: tuple[Manifest, ...] = (CONSENT, JOURNAL, MEDICATION, CITIZEN, REGISTRY_EXPORT,
                                  WELFARE, WORKSPACE)


def registry(manifests: tuple[Manifest, ...] = MANIFESTS) -> Registry:
    """Every event the services publish or decode, and the platform's own (consent.events and
    audit.access, whose contracts live in libs/ since every service reads them)."""
    return Registry.of(consent_contract, access_log_contract).merged(
        *(m.registry() for m in manifests))


def every_event(manifests: tuple[Manifest, ...] = MANIFESTS) -> list[type[EventPayload]]:
    return sorted(registry(manifests).payloads.values(), key=lambda c: c.event_type)


def by_name(name: str, manifests: tuple[Manifest, ...] = MANIFESTS) -> Manifest:
    return next(m for m in manifests if m.name == name)
