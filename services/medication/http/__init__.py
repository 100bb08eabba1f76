"""The medication service's REST API: the patient's medication list (PLL) and its reads
(``reads``), its changes with decision support and what was given, reconciliation and review
(``changes``), the drug catalogue (``catalogue``) and the FHIR R4 API (``fhir``: reads and
ordering, over the mapping in ``services/medication/fhir/``); ``deps`` holds what they share."""

from services.medication.http import catalogue, changes, fhir, reads

routers = (reads.router, changes.router, catalogue.router, fhir.router)
