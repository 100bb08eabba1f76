"""Which routes of an app reach patient data without a decided, logged access."""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator


def all_routes(app) -> Iterator:
    """Every route of the app, with routers included at any depth (FastAPI 0.163 keeps an
    included router as one ``_IncludedRouter`` entry of ``app.routes``, without a path)."""
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is None:
            yield route
        else:
            yield from contexts()


# FHIR routes that hold no patient data: the CapabilityStatement and our code systems
NO_PATIENT_DATA = ("/fhir/metadata", "/fhir/CodeSystem", "/fhir/CodeSystem/{cs_id}")


def unguarded_routes(app, decides_itself: Iterable[str], also: Iterable[str] = ()) -> list[str]:
    """Routes with a patient in the path, under ``/fhir/`` or listed in ``also``, that neither
    depend on ``guarded`` or a guarded or declared write dependency nor call one of
    ``decides_itself`` (e.g. ``access.require(``)."""
    markers, extra = tuple(decides_itself), set(also)
    found = []
    for route in all_routes(app):
        path = getattr(route, "path", "")
        patient_data = "{patient_id}" in path or path.startswith("/fhir/") or path in extra
        if not patient_data or path in NO_PATIENT_DATA:
            continue
        deps = [d.call for d in route.dependant.dependencies]
        source = inspect.getsource(route.endpoint)
        in_route = any(getattr(f, "ehr_access_in_route", False) for f in deps)
        if not (any(getattr(f, "ehr_access_guard", False)
                    or getattr(f, "ehr_access_declared", False) for f in deps)
                or (in_route and "w.require(" in source)
                or any(m in source for m in markers)):
            found.append(f"{sorted(route.methods)} {path}")
    return found


def patient_routes(app) -> list[str]:
    """The routes ``unguarded_routes`` looks at: a test that finds none checks nothing."""
    return [route.path for route in all_routes(app)
            if "{patient_id}" in getattr(route, "path", "")]
