"""Edge values for every date and instant a service's OpenAPI document takes (issue 12, finding
5), for the schemathesis runs of the journal and the medication service: each ``format: date``
or ``date-time`` query parameter and body field (found in the document, so a new one is
covered without a change here), and the FHIR ``date`` search, gets a value at or past the edge
of what a service can hold: years 1 and 9999 with the farthest offsets, just outside and just
inside the plausible range (1850-01-01 .. 2199-12-31), before a birth, far in the future."""

from __future__ import annotations

from typing import Any

INSTANTS = ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00",
            "2199-12-31T23:59:59-14:00", "1850-01-01T00:00:00+14:00",
            "2199-12-31T12:00:00+00:00", "1850-01-01T12:00:00+00:00",
            "1941-03-01T23:00:00+00:00", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z")
DAYS = ("9999-12-31", "0001-01-01", "2199-12-31", "1850-01-01", "2200-01-01", "1849-12-31",
        "1941-03-01")
SEARCH_DATES = ("lt0001-01-01T00:00:00+14:00", "ge9999-12-31T23:59:59-14:00", "eq9999-12-31",
                "sa0001-01-01", "le2199-12-31T23:59:59-14:00")
EDGES = {"date": DAYS, "date-time": INSTANTS, "search": SEARCH_DATES}

Field = tuple[str, tuple[str, ...], str]     # ("query" | "body", where, kind)


def _formats(schema: dict, components: dict, depth: int = 0) -> list[tuple[tuple[str, ...], str]]:
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    out: list[tuple[tuple[str, ...], str]] = []
    for alt in (*schema.get("anyOf", ()), *schema.get("allOf", ()), *schema.get("oneOf", ())):
        out += _formats(alt, components, depth)
    if schema.get("format") in ("date", "date-time"):
        out.append(((), schema["format"]))
    if depth < 3:
        for name, prop in schema.get("properties", {}).items():
            out += [((name, *where), kind)
                    for where, kind in _formats(prop, components, depth + 1)]
    return out


def date_fields(spec: dict) -> dict[tuple[str, str], list[Field]]:
    """``{(path, METHOD): [("query", ("as_of",), "date-time"), ("body", ("onset",), "date")]}``
    for every operation that takes a date or an instant."""
    components = spec.get("components", {}).get("schemas", {})
    found: dict[tuple[str, str], list[Field]] = {}
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            fields: list[Field] = []
            for p in op.get("parameters", []):
                if p["in"] != "query":
                    continue
                if p["name"] == "date":
                    fields.append(("query", ("date",), "search"))
                fields += [("query", (p["name"],), kind)
                           for _, kind in _formats(p.get("schema", {}), components)]
            body = (op.get("requestBody", {}).get("content", {})
                    .get("application/json", {}).get("schema"))
            if body:
                fields += [("body", where, kind) for where, kind in _formats(body, components)
                           if where]
            if fields:
                found[(path, method.upper())] = fields
    return found


def _put(body: Any, where: tuple[str, ...], value: str) -> None:
    *parents, last = where
    for step in parents:
        if not isinstance(body, dict):
            return
        body = body.setdefault(step, {})
    if isinstance(body, dict):
        body[last] = value


def with_edge_dates(case, fields: list[Field], pick: int) -> None:
    """Every date field of the case gets an edge value (the same for the same ``pick``)."""
    for i, (where, path, kind) in enumerate(fields):
        values = EDGES[kind]
        value = values[(pick + 3 * i) % len(values)]
        if where == "query":
            case.query = case.query or {}
            case.query[path[0]] = value
        elif isinstance(case.body, dict):
            _put(case.body, path, value)
