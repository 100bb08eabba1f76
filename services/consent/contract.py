"""The events the consent service publishes (consent.events): the one module of this service
other services may import.

The classes are defined in ``libs/access/events.py``, not here, and this module only re-exports
them: every service projects these events into its local access facts
(``libs/audit/facts_store.py``, ``libs/access/facts.py``), and the policy in ``libs/access`` reads
those facts, so ``libs/`` needs the contract, and ``libs/`` must not import a service. A service
that registers these events lists ``libs.access.events`` in its manifest (``Registry.of`` takes
the classes a module defines, and this module defines none).
"""

from __future__ import annotations

from libs.access.events import (
    PersonRegistered,
    CareRelationStarted,
    CareRelationEnded,
    ConsentGiven,
    ConsentWithdrawn,
    BlockRegistered,
    BlockLifted,
    EntryRestricted,
    RestrictionLifted,
    RestrictedEntryOpened,
    NotificationsChosen,
    ConsentLevelChosen,
    EmergencyAccessGranted,
    GuardianRegistered,
    GuardianAddressChanged,
    GuardianEnded,
    MandateGranted,
    MandateRevoked,
    DeviceAssigned,
    DeviceUnassigned,
    ChildWelfareReported,
    DisclosureMade,
    AccessReviewed,
)

__all__ = ["PersonRegistered", "CareRelationStarted", "CareRelationEnded", "ConsentGiven",
           "ConsentWithdrawn", "BlockRegistered", "BlockLifted", "EntryRestricted",
           "RestrictionLifted", "RestrictedEntryOpened", "NotificationsChosen",
           "ConsentLevelChosen", "EmergencyAccessGranted", "GuardianRegistered", "GuardianAddressChanged",
           "GuardianEnded", "MandateGranted", "MandateRevoked", "DeviceAssigned",
           "DeviceUnassigned", "ChildWelfareReported", "DisclosureMade", "AccessReviewed"]
