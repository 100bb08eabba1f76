"""The citizen service's read models, each from one topic (``libs/events/projection.py`` runs
each exactly once per event, in the read model's own transaction)."""
