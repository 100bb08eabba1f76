"""The gateway's config as ``ehr gateway`` writes it, checked by the real nginx (``nginx -t``)
and run by it without the services: no database or broker needed."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path

import httpx
import pytest
import uvicorn
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from starlette.types import ASGIApp
from typer.testing import CliRunner

from cli.gateway import start, stop, write
from cli.main import app
from libs.config import get_settings
from libs.devstack.procs import free_port
from libs.kernel.identifiers import IdentifierSystem, synthetic_number
from libs.web.gateway import (
    UPSTREAM_IDLE_S, GatewayConfigError, merged_capability, nginx_conf, transaction_owner)
from tests.support.waiting import eventually

JOURNAL = {"rest": [{"mode": "server", "interaction": [{"code": "transaction"}],
                     "resource": [{"type": "Observation"}, {"type": "Patient"}]}]}
CONSENT = {"rest": [{"mode": "server", "resource": [{"type": "Consent"}]}]}


@pytest.fixture
def local(monkeypatch, tmp_path):
    monkeypatch.setenv("EHR_LOCAL_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path / "gateway"
    get_settings.cache_clear()


def test_ehr_gateway_start_serves_one_statement_and_says_when_an_owner_is_down(local):
    port = free_port()
    runner = CliRunner()
    done = runner.invoke(app, ["gateway", "start", "--port", str(port)], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    try:
        assert f"http://127.0.0.1:{port}/fhir" in done.output
        r = httpx.get(f"http://127.0.0.1:{port}/fhir/metadata", timeout=10)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/fhir+json")
        statement = CapabilityStatement.model_validate(r.json())
        assert statement.implementation.url == f"http://127.0.0.1:{port}/fhir"
        types = [x.type for x in statement.rest[0].resource]
        assert len(types) == len(set(types)) and {"Consent", "Observation",
                                                  "MedicationStatement"} <= set(types)
        # nothing listens on the services' ports here: the owner is unreachable, said in FHIR
        fnr = synthetic_number(date(1941, 3, 14), 0)
        r = httpx.get(f"http://127.0.0.1:{port}/fhir/Consent",
                      params={"identifier": f"{IdentifierSystem.FNR}|{fnr}"}, timeout=10)
        assert r.status_code == 502 and r.json()["issue"][0]["code"] == "transient"
        # logged as a path, never with the query: the national id is in no log. nginx writes
        # a request's line after its answer has left, so the second line may come a moment later
        logs = local / "logs"
        asyncio.run(eventually(
            lambda: logs.joinpath("access.log").read_text().count(" /fhir/") == 2, 10, 0.02,
            "both requests in the gateway's access log"))
        assert all(fnr not in f.read_text() for f in logs.iterdir())
    finally:
        done = runner.invoke(app, ["gateway", "stop"], catch_exceptions=False)
    assert "stopped" in done.output
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/fhir/metadata", timeout=5)


def test_a_route_that_is_not_a_resource_type_never_reaches_the_config():
    ok = {"upstreams": {"journal": "127.0.0.1:8004"}, "listen": "127.0.0.1:8000",
          "transaction": None, "user": "ehr"}
    assert "location = /fhir/Observation " in nginx_conf({"Observation": "journal"}, **ok)
    for routes in ({"Observation; include /etc/passwd": "journal"},
                   {"Observation": "journal; }"}, {"Consent": "consent"}):
        with pytest.raises(GatewayConfigError):
            nginx_conf(routes, **ok)
    for bad in ({"listen": "0.0.0.0:80; user root"}, {"transaction": "consent"},
                {"user": "root; worker_processes 64"}):
        with pytest.raises(GatewayConfigError):
            nginx_conf({"Observation": "journal"}, **ok | bad)


def test_the_merged_statement_takes_each_type_from_its_owner_only():
    stray = {"rest": [{"mode": "server", "resource": [{"type": "Observation"},
                                                      {"type": "Consent"}]}]}
    routes = {"Observation": "journal", "Patient": "journal", "Consent": "consent"}
    merged = merged_capability({"journal": JOURNAL, "consent": CONSENT, "stray": stray},
                               routes, base_url="https://ehr.example/fhir", date="2026-12-03")
    CapabilityStatement.model_validate(merged)
    assert [r["type"] for r in merged["rest"][0]["resource"]] == ["Consent", "Observation",
                                                                  "Patient"]
    assert merged["rest"][0]["interaction"] == [{"code": "transaction"}]
    assert transaction_owner({"journal": JOURNAL, "consent": CONSENT}) == "journal"
    with pytest.raises(GatewayConfigError):
        transaction_owner({"journal": JOURNAL, "other": JOURNAL})


@asynccontextmanager
async def behind_the_gateway(prefix: Path, service: ASGIApp,
                             edit: Callable[[str], str] = lambda conf: conf,
                             ) -> AsyncIterator[tuple[uvicorn.Server, str]]:
    """``service`` served by uvicorn (idle connections kept ten minutes) behind the gateway as
    ``ehr gateway`` configures it for Observations (``edit`` changes that config first);
    yields the server and the gateway's address."""
    port, listen = free_port(), f"127.0.0.1:{free_port()}"
    server = uvicorn.Server(uvicorn.Config(service, port=port, log_level="warning",
                                           proxy_headers=False, lifespan="off",
                                           timeout_keep_alive=600))
    serving = asyncio.create_task(server.serve())
    conf = nginx_conf({"Observation": "journal"}, {"journal": f"127.0.0.1:{port}"},
                      listen=listen, transaction=None, user=getpass.getuser())
    try:
        await eventually(lambda: server.started, 10, 0.01, "the service listening")
        write(prefix, (edit(conf), {}))
        await asyncio.to_thread(start, prefix)
        yield server, listen
    finally:
        await asyncio.to_thread(stop, prefix)
        server.should_exit = True
        await serving


async def test_the_gateway_keeps_its_connections_to_a_service_under_concurrent_requests(
        tmp_path):
    """16 clients through nginx to one service: nginx opens a connection per request in flight
    and keeps them (with 8 kept idle it closed the rest as their answers came back and opened
    new ones for the next requests). Connections idle for UPSTREAM_IDLE_S are closed by design,
    and on a slow machine some go idle that long while the others carry the load (then nginx
    rightly opens new ones at the next peak): both sides keep idle connections for the whole
    test here, so every connection beyond one per client is one nginx should have kept."""
    seen: set[int] = set()

    async def service(scope, receive, send):   # the address nginx connects from, per request
        if scope["type"] != "http":
            return
        seen.add(scope["client"][1])
        await asyncio.sleep(0.002 * (len(seen) % 3))   # answers come back at different times
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/fhir+json")]})
        await send({"type": "http.response.body", "body": b'{"resourceType":"Observation"}'})

    idle = f"keepalive_timeout {UPSTREAM_IDLE_S}s;"

    def kept_idle(conf: str) -> str:
        assert conf.count(idle) == 1
        return conf.replace(idle, "keepalive_timeout 600s;")

    clients = 16
    async with behind_the_gateway(tmp_path / "gateway", service, kept_idle) as (_, listen):
        async with httpx.AsyncClient(base_url=f"http://{listen}/fhir/", limits=httpx.Limits(
                max_connections=clients, max_keepalive_connections=clients)) as http:

            async def one_client():
                for _ in range(100):
                    assert (await http.get("Observation/1")).status_code == 200

            await asyncio.gather(*(one_client() for _ in range(clients)))
        assert 0 < len(seen) <= clients, f"{len(seen)} connections for {clients} clients"


async def test_the_gateway_closes_an_idle_connection_before_the_service_would(tmp_path):
    """A request sent on a connection the service is closing fails (a POST is not retried), so
    nginx must give up idle connections first: the service here would keep them for ten
    minutes, and the services run with uvicorn's own keep-alive timeout."""
    assert UPSTREAM_IDLE_S < uvicorn.Config(app=None).timeout_keep_alive

    async def service(scope, receive, send):
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})

    async with behind_the_gateway(tmp_path / "gateway", service) as (server, listen):
        async with httpx.AsyncClient(base_url=f"http://{listen}/fhir/") as http:
            assert (await http.post("Observation", content=b"{}")).status_code == 200
        assert len(server.server_state.connections) == 1   # kept after its answer
        await eventually(lambda: not server.server_state.connections, 30, 0.1,
                         "nginx closing its idle connection to the service")
