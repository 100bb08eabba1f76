"""The citizen service's routers: the API (``api``), the portal's sign-in (``auth``), its
pages (``pages``), messages with the care team (``messages``) and acting for someone
else (``proxies``)."""

from services.citizen.http import api, auth, messages, pages, proxies

routers = (api.router, auth.router, pages.router, messages.router, proxies.router)
