"""The welfare service's pure domain: the codes devices may send (``codes``), reading a device's
FHIR Observation or Flag into a reading (``intake``), and the legal bases that cover a
technology for a person (``coverage``)."""
