"""The medication service's FHIR resource types: the information category each is decided and
logged as, where its search date is and which elements carry its codes. The HTTP layer decides
and answers reads with it; the projection stores each version's search columns with it."""

from __future__ import annotations

from libs.web.fhir.searchable import FhirType

DRUG = ("medicationCodeableConcept",)
TYPES: dict[str, FhirType] = {
    "MedicationStatement": FhirType("medication", ("effectivePeriod.start", "dateAsserted"),
                                    DRUG),
    "MedicationRequest": FhirType("medication", ("authoredOn",), DRUG),
    "MedicationAdministration": FhirType("medication", ("effectiveDateTime",), DRUG),
    "List": FhirType("medication", ("date",), ("code",)),
}
