"""HTTP API of the consent service. Every route that touches a patient is decided by libs/access
and logged (``guarded`` or ``Access.require``/``record``) before anything is returned.

Professionals: declare and end care relations, break the glass, open restricted entries, report
to child welfare, register persons, guardians and devices; unit leaders review flagged accesses.
Citizens (and their proxies): consents, blocks, restrictions, notifications, mandates, and who
looked at their record. Sectors outside health care: consented, limited extracts.
"""

from __future__ import annotations

from fastapi import APIRouter

from services.consent.routes import citizens, professionals, reviews, sectors

router = APIRouter()
for module in (professionals, citizens, sectors, reviews):
    router.include_router(module.router)
