"""The welfare service's routes: ingestion for devices and gateways (``ingest``), and a
person's legal bases, readings, tasks and quarantine for health personnel (``patients``)."""

from services.welfare.http import alerts, ingest, patients

routers = (ingest.router, patients.router, alerts.router)
