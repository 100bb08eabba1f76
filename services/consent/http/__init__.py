"""The consent service's REST API. Every route that touches a patient is decided by the policy
and logged (``guarded``, ``libs/web/write.py``, or ``Access.require``/``record``) before
anything is returned.

Professionals: declare and end care relations, break the glass, open restricted entries, report
to child welfare, register persons, guardians and devices; unit leaders review flagged accesses.
Citizens (and their proxies): consents, blocks, restrictions, notifications, mandates, and who
looked at their record. Sectors outside health care: consented, limited extracts. FHIR R4:
Consent and AuditEvent (``fhir.py``).
"""

from __future__ import annotations

from services.consent.http import citizens, fhir, professionals, reviews, sectors

# the FHIR router first: it turns away other paths at once (libs/web/routing.py)
routers = (fhir.router, professionals.router, citizens.router, sectors.router, reviews.router)
