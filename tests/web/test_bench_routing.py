"""``python -m bench.routing`` times what it names: every request it times reaches the route it
is named after (a path that no longer reaches one raises), in the service's app and in the app
of that route alone, and the services' own routes are handed back unstubbed. No servers."""

from __future__ import annotations

import pytest
from bench.routing import CASES, _routes, alone, service_app, stubbed, time_it


@pytest.mark.parametrize("service", sorted(CASES))
async def test_every_timed_request_reaches_its_route_and_the_routes_are_handed_back(service):
    app = service_app(service)
    with stubbed(app):
        for method, template, path in CASES[service]:
            assert await time_it(app, method, path, 10) > 0
            with stubbed(alone(method, template)) as one:
                assert await time_it(one, method, path, 10) > 0
    assert all("handle" not in vars(r) for r in _routes(app.router))
    assert all(getattr(r.handle, "__func__", None) is type(r).handle   # its own method again
               for r in _routes(app.router))


async def test_a_request_that_reaches_no_route_is_refused():
    with stubbed(service_app("consent")) as app, pytest.raises(RuntimeError):
        await time_it(app, "GET", "/patients/x/nothing-here", 10)
