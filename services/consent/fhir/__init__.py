"""FHIR R4 of the consent service: ``mapping`` (Consent and AuditEvent, pure) and ``api`` (the
read and search routes under ``/fhir``)."""
