"""The journal in FHIR R4: ``to_fhir`` (the record as resources, with ``elements``, ``record``
and ``clinical``), ``from_fhir`` / ``plan`` / ``deciders`` (incoming Bundles as commands),
``transaction`` and the ``api`` router, and the Synthea import policy (``synthea``)."""
