"""Which routes of an app reach patient data without a decided, logged access."""

from __future__ import annotations

import inspect
from collections.abc import Iterable


def unguarded_routes(app, decides_itself: Iterable[str], also: Iterable[str] = ()) -> list[str]:
    """Routes with a patient in the path, under ``/fhir/`` or listed in ``also``, that neither
    depend on ``guarded`` nor call one of ``decides_itself`` (e.g. ``access.require(``)."""
    markers, extra = tuple(decides_itself), set(also)
    found = []
    for route in app.routes:
        path = getattr(route, "path", "")
        patient_data = "{patient_id}" in path or path.startswith("/fhir/") or path in extra
        if not patient_data or path == "/fhir/metadata":
            continue
        deps = [d.call for d in route.dependant.dependencies]
        source = inspect.getsource(route.endpoint)
        if not (any(getattr(f, "ehr_access_guard", False) for f in deps)
                or any(m in source for m in markers)):
            found.append(f"{sorted(route.methods)} {path}")
    return found
