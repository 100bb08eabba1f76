"""The consent API fuzzed with schemathesis from its own OpenAPI document: no input, with or
without a valid token, gets a 5xx. The service runs for real (uvicorn on a port, relay and
projections in-process, real PostgreSQL and Kafka)."""

from __future__ import annotations

import asyncio
import threading
import time
import zlib
from datetime import date

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from libs.access.dev_issuer import DevIssuer
from libs.config import Settings
from libs.devstack.procs import free_port
from libs.events.kafka_admin import apply_topics
from libs.events.migrations import run_migrations
from libs.events.topics import TopicSpec, all_topics
from services.consent.app import Options, create_app
from tests.consent.conftest import HOME_CARE, MUNICIPALITY, synthetic

APP = create_app(Settings(environment="test"), Options(telemetry=False))  # schema only
SCHEMA = schemathesis.openapi.from_dict(APP.openapi())


@pytest.fixture(scope="module")
def server(database_url, kafka_bootstrap, tmp_path_factory):
    """The service on a real port, with a patient the nurse has a care relation with."""
    unique = f"fz{int(time.time() * 1000) % 10**9}"
    topics = {t: f"{t}.{unique}" for t in ("consent.events", "audit.access",
                                                  "journal.events")}
    asyncio.run(_prepare(database_url, kafka_bootstrap, unique, topics))
    key = tmp_path_factory.mktemp("issuer") / "key.pem"
    s = Settings(database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap,
                 environment="test", dev_key_path=key, relay_poll_interval_s=0.2)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(s, Options(schema=f"t_{unique}",
                                                              topic_names=topics,
                                                              telemetry=False)),
                                        host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    issuer = DevIssuer.from_settings(s)
    nurse = {"Authorization": "Bearer " + issuer.mint_practitioner(
        "9144889", MUNICIPALITY, HOME_CARE, ("nurse",), "Nina")}
    r = httpx.post(f"{url}/persons", json={"national_id": synthetic(date(1950, 3, 1))},
                   headers=nurse)
    assert r.status_code == 201, r.text
    patient = r.json()["patient_id"]
    leader = {"Authorization": "Bearer " + issuer.mint_practitioner(
        "1234567", MUNICIPALITY, HOME_CARE, ("unit_leader",), "Leder")}
    httpx.post(f"{url}/patients/{patient}/care-relations", headers=leader,
               json={"purpose": "fuzz", "basis": "episode",
                     "reason": "fuzzing"}).raise_for_status()
    yield url, nurse
    srv.should_exit = True
    thread.join(timeout=30)


async def _prepare(database_url, kafka_bootstrap, unique, topics):
    await run_migrations(database_url, f"t_{unique}")
    await apply_topics(kafka_bootstrap, all_topics(tuple(
        TopicSpec(name, 3, "fuzz") for name in topics.values())))


@SCHEMA.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_input_gets_a_server_error(case, server):
    url, nurse = server
    # half the cases as a logged-in nurse (past the token check, into the handlers)
    headers = nurse if zlib.crc32(repr(case.path_parameters).encode()) % 2 else None
    response = case.call(base_url=url, headers=headers, timeout=30)
    case.validate_response(response, checks=[not_a_server_error])
