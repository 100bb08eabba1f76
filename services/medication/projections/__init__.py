"""The medication service's read models, one module each: ``lists`` (``medication_lists`` and
``medication_fhir``, from ``medication.events``) and ``cave`` (``medication_cave``, from
``journal.events``); ``reader`` reads them. The manifest lists the projections it runs."""
