"""The FHIR benchmark: the record's one FHIR base against the HAPI FHIR JPA server
(``python -m bench.fhir``, ``make bench-fhir``)."""
