"""The journal's REST API: patient administration, care (episodes, IPLOS, service decisions),
the clinical record, process support, messaging and the reads. Thin: each route parses, then
calls the domain through the write dependency (``deps.py``); ``fhir.py`` is the FHIR R4 API."""

from __future__ import annotations

from services.journal.http import (
    care, care_team, clinical, fhir, messages, patients, process, reads, withheld,
)

# the FHIR router first: it turns away other paths at once (libs/web/routing.py)
routers = (fhir.router, patients.router, reads.router, care.router, clinical.router,
           withheld.router, process.router, messages.router, care_team.router)
