"""One FHIR base for the whole record: the reverse proxy's configuration (nginx), made from the
one routing map (resource type -> owning service, ``cli/fhir_routes.py``) and the services' own
CapabilityStatements. Pure: text in, text out; ``ehr gateway`` writes and runs it.

What the gateway answers itself, every other request going to the owning service unchanged
(``/fhir/<Type>`` and ``/fhir/<Type>/...``, query string and Host header kept, so the links a
service writes name the gateway):

- ``GET /fhir/metadata``: one CapabilityStatement, the services' resources merged;
- ``POST /fhir``: a Bundle, to the one service that declares ``transaction``;
- any other path: 404 with an OperationOutcome.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

FHIR_JSON = "application/fhir+json"
_TYPE = re.compile(r"^[A-Z][A-Za-z]{0,63}$")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_USER = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
_UPSTREAM = re.compile(r"^[A-Za-z0-9.\-]+:[0-9]{1,5}$")
SYSTEM_INTERACTIONS = ("transaction", "batch", "search-system", "history-system")


# the gateway's own refusals, as OperationOutcomes instead of nginx's HTML pages
_OWN_ERRORS = ((413, "too-costly", "the request body is larger than the gateway takes"),
               (502, "transient", "the service that owns this resource type is not reachable"),
               (504, "timeout", "the service that owns this resource type did not answer"))


class GatewayConfigError(ValueError):
    pass


def outcome(code: str, text: str) -> dict:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": text}]}


def transaction_owner(statements: Mapping[str, dict]) -> str | None:
    """The service that takes Bundles at ``POST /fhir`` (declares ``transaction``); two are an
    error: a Bundle is not split between services."""
    owners = [name for name, cs in statements.items()
              if any(i.get("code") == "transaction"
                     for rest in cs.get("rest", []) for i in rest.get("interaction", []))]
    if len(owners) > 1:
        raise GatewayConfigError(f"transaction Bundles are taken by {' and '.join(owners)}")
    return owners[0] if owners else None


def merged_capability(statements: Mapping[str, dict], routes: Mapping[str, str], *,
                      base_url: str, date: str) -> dict:
    """One CapabilityStatement for the gateway: each resource as its owner declares it, the
    system-level interactions any service declares. kind=instance with ``implementation``
    (url: the gateway's base), so invariants cpb-2 and cpb-14 hold."""
    resources, interactions = [], []
    for name, cs in statements.items():
        for rest in cs.get("rest", []):
            if rest.get("mode") != "server":
                continue
            resources += [r for r in rest.get("resource", []) if routes.get(r["type"]) == name]
            interactions += [i["code"] for i in rest.get("interaction", [])
                             if i.get("code") in SYSTEM_INTERACTIONS]
    rest = {"mode": "server",
            "documentation": "One base for the record: each resource type is served by the "
                             "service that owns it.",
            "resource": sorted(resources, key=lambda r: r["type"])}
    if interactions:
        rest["interaction"] = [{"code": c} for c in sorted(set(interactions))]
    return {"resourceType": "CapabilityStatement", "status": "active", "date": date,
            "kind": "instance", "fhirVersion": "4.0.1", "format": [FHIR_JSON],
            "software": {"name": "ehr gateway"},
            "implementation": {"description": "The health and care record: one FHIR R4 base",
                               "url": base_url},
            "rest": [rest]}


def _nginx_string(obj: dict) -> str:
    """``obj`` as JSON inside an nginx single-quoted string: ``$`` (a variable to nginx) and
    ``'`` become JSON escapes; every backslash is doubled for nginx's own unescaping."""
    text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"))
    text = text.replace("$", "\\u0024").replace("'", "\\u0027")
    return "'" + text.replace("\\", "\\\\") + "'"


def _answer(status: int, body: dict) -> str:
    return f"return {status} {_nginx_string(body)};"


METADATA = "metadata.json"
# idle connections kept to each service: with fewer than the requests in flight (8 before),
# nginx closed the extra ones as each answer came back and opened new ones for the next
# requests: ~50 connections a second to the journal under 16 FHIR clients (bench/RESULTS.md)
UPSTREAM_KEEPALIVE = 64
# and closes them before uvicorn would (its keep-alive timeout is 5 s): a request is never sent
# on a connection the service is closing
UPSTREAM_IDLE_S = 4


def nginx_conf(routes: Mapping[str, str], upstreams: Mapping[str, str], *,
               listen: str, transaction: str | None, user: str, max_body: str = "8m") -> str:
    """The nginx.conf of the gateway, run with ``nginx -p <prefix>`` (pid, logs, temporary
    files and the merged CapabilityStatement, ``metadata.json``, under the prefix; no root
    paths). ``routes``: resource type -> service; ``upstreams``: service -> ``host:port``;
    ``listen``: ``host:port``; ``user``: who the workers run as when nginx is started by root
    (they read files under the prefix; nginx ignores it otherwise)."""
    for rtype, service in routes.items():
        if not _TYPE.match(rtype) or not _NAME.match(service):
            raise GatewayConfigError(f"not a route: {rtype!r} -> {service!r}")
        if service not in upstreams:
            raise GatewayConfigError(f"no address for the {service} service ({rtype})")
    for service, address in upstreams.items():
        if not _NAME.match(service) or not _UPSTREAM.match(address):
            raise GatewayConfigError(f"not an upstream: {service!r} -> {address!r}")
    if transaction is not None and transaction not in upstreams:
        raise GatewayConfigError(f"no address for the {transaction!r} service (Bundles)")
    if not _USER.match(user):
        raise GatewayConfigError(f"not a user name: {user!r}")
    if not _UPSTREAM.match(listen):
        raise GatewayConfigError(f"not a listen address: {listen!r}")
    used = sorted(set(routes.values()) | ({transaction} if transaction else set()))
    out = ["# written by `ehr gateway config`; do not edit (it is made again on each start)",
           # privacy: the logs never hold a query string (a national id may be a search
           # parameter); error.log only at crit, as nginx's errors repeat the request line
           f"user {user};", "worker_processes 1;", "pid nginx.pid;",
           "error_log logs/error.log crit;", "events { worker_connections 512; }", "http {",
           "    log_format path_only '$remote_addr [$time_iso8601] \"$request_method $uri\" '",
           "                         '$status $body_bytes_sent $request_time';",
           "    access_log logs/access.log path_only;", f"    default_type {FHIR_JSON};",
           "    client_body_temp_path tmp/body;", "    proxy_temp_path tmp/proxy;",
           "    fastcgi_temp_path tmp/fastcgi;", "    uwsgi_temp_path tmp/uwsgi;",
           "    scgi_temp_path tmp/scgi;",
           # bounded requests, kept in memory (no temporary files for the worker to write)
           f"    client_max_body_size {max_body};", f"    client_body_buffer_size {max_body};",
           "    client_header_buffer_size 4k;", "    large_client_header_buffers 4 16k;",
           "    proxy_buffering off;", "    proxy_http_version 1.1;",
           "    proxy_set_header Connection \"\";", "    proxy_set_header Host $http_host;",
           "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
           "    proxy_set_header X-Forwarded-Proto $scheme;",
           "    proxy_read_timeout 60s;", "    server_tokens off;"]
    for service in used:
        out += [f"    upstream {service} {{ server {upstreams[service]}; "
                f"keepalive {UPSTREAM_KEEPALIVE}; keepalive_timeout {UPSTREAM_IDLE_S}s; }}"]
    out += ["    server {", f"        listen {listen};",
            f"        location = /fhir/metadata {{ alias {METADATA}; }}"]
    for rtype, service in routes.items():
        out += [f"        location = /fhir/{rtype} {{ proxy_pass http://{service}; }}",
                f"        location ^~ /fhir/{rtype}/ {{ proxy_pass http://{service}; }}"]
    if transaction:
        refused = outcome("not-supported", "POST a transaction or batch Bundle to this base")
        out += ["        location ~ ^/fhir/?$ {",
                "            if ($request_method != POST) {",
                "                " + _answer(405, refused), "            }",
                f"            proxy_pass http://{transaction};", "        }"]
    unknown = outcome("not-found", "no resource type of this record is served at this path")
    out += ["        location / {", "            " + _answer(404, unknown), "        }"]
    for status, code, text in _OWN_ERRORS:
        out += [f"        error_page {status} @e{status};",
                f"        location @e{status} {{ {_answer(status, outcome(code, text))} }}"]
    out += ["    }", "}", ""]
    return "\n".join(out)
