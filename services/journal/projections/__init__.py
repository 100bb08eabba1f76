"""The journal's read models: ``journal_records`` (``records.py``, with its notes, worklist,
observations and FHIR version tables) and its reader (``reader.py``)."""
