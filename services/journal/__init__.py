"""services/journal: clinical documentation, problems and diagnoses, service decisions (vedtak)."""
