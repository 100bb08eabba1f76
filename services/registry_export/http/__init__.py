"""The analysts' API (``routes.py``) and their sign-in (``auth.py``)."""

from services.registry_export.http.routes import router

routers = (router,)
