"""The event modules the registry export decodes: its own contract and those of the five
topics its worker reads (the manifest's ``events``; the commands build the same registry)."""

from __future__ import annotations

from libs.access import events as consent_events
from libs.audit import log as audit_events
from libs.events.registry import Registry
from services.journal import contract as journal_contract
from services.medication import contract as medication_contract
from services.registry_export import contract
from services.welfare import contract as welfare_contract

EVENT_MODULES = (contract, journal_contract, medication_contract, consent_events, audit_events,
                 welfare_contract)


def event_registry() -> Registry:
    return Registry.of(*EVENT_MODULES)
