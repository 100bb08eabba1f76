"""The citizen service's routers: the API (``api``), the portal's sign-in (``auth``), its
pages (``pages``) and acting for someone else (``proxies``)."""

from services.citizen.http import api, auth, pages, proxies

routers = (api.router, auth.router, pages.router, proxies.router)
