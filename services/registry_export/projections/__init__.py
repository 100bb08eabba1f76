"""The registry export's read models in PostgreSQL."""
