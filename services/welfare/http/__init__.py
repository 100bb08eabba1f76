"""The welfare service's routes: ingestion for devices and gateways (``ingest``), and a
person's legal bases, readings, tasks and quarantine for health personnel (``patients``),
alerts (``alerts``, ``board_api``). The live alert board (``board``) is mounted by app.py."""

from services.welfare.http import alerts, board_api, ingest, patients

routers = (ingest.router, patients.router, alerts.router, board_api.router)
