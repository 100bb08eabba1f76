"""The analysts' API (``routes.py``), their sign-in (``auth.py``) and their dashboard
(``dashboard.py``, SVG charts in ``charts.py``)."""

from services.registry_export.http.dashboard import router as dashboard
from services.registry_export.http.routes import router

routers = (router, dashboard)
