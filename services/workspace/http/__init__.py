"""The workspace's routes: sign-in (``auth``), the pages (``pages``) and the visit's commands
(``visit``) and emergency access (``emergency``)."""

from services.workspace.http import auth, emergency, pages, visit

routers = (auth.router, pages.router, visit.router, emergency.router)
