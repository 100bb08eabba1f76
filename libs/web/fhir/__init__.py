"""FHIR R4 at the edge, shared by every service: elements (codings, instants, references),
searchsets, versioned resource tables, and the read, vread, ``_history`` and search routes."""
