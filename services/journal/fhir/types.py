"""The journal's FHIR resource types: the information category each is decided and logged as,
where its search date is and which elements carry its codes. The HTTP layer decides and answers
reads with it; the projection stores each version's search columns with it."""

from __future__ import annotations

from libs.web.fhir.searchable import FhirType

# resource type -> its information category and where its search date is
TYPES: dict[str, FhirType] = {
    "Patient": FhirType("identity", ("birthDate",)),
    "EpisodeOfCare": FhirType("episodes", ("period.start",)),
    "Encounter": FhirType("notes", ("period.start",)),
    "Observation": FhirType("observations", ("effectiveDateTime",)),
    "Condition": FhirType("conditions", ("recordedDate", "onsetDateTime")),
    "AllergyIntolerance": FhirType("critical_info", ("recordedDate",)),
    "Flag": FhirType("critical_info", ("period.start",)),
    "DocumentReference": FhirType("notes", ("date",)),
    "Composition": FhirType("notes", ("date",)),
    "CarePlan": FhirType("care_plans", ("period.start", "created")),
    "Goal": FhirType("care_plans", ("startDate", "statusDate"),
                     ("description",)),
    "Task": FhirType("tasks", ("authoredOn",)),
    "Immunization": FhirType("observations", ("occurrenceDateTime",), ("vaccineCode",)),
    "Procedure": FhirType("conditions", ("performedDateTime", "performedPeriod.start")),
    "DiagnosticReport": FhirType("observations", ("effectiveDateTime",)),
}
