"""The medication service's REST API: the patient's medication list (PLL) and its reads
(``reads``), its changes with decision support and what was given, reconciliation and review
(``changes``), the drug catalogue (``catalogue``) and the FHIR R4 API (``fhir``: reads and
ordering, over the mapping in ``services/medication/fhir/``; ``imported``: a statement from
another system's record); ``deps`` holds what they share."""

from services.medication.http import catalogue, changes, fhir, imported, reads

# the FHIR router first: it turns away other paths at once (libs/web/routing.py)
routers = (fhir.router, reads.router, changes.router, catalogue.router, imported.router)
