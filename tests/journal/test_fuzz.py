"""The journal API fuzzed with schemathesis from its own OpenAPI document: no input, with or
without a valid token, gets a 5xx. The journal runs for real (uvicorn on a port, relay and
projections in-process, real PostgreSQL and Kafka), and so does the consent service, which
gives the nurse care relations with two patients: a third of the cases go to that patient (past
the access guard, into the handlers), a third to whatever patient the fuzzer makes up, a third
carry no token at all."""

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
from libs.access.identifiers import synthetic_number
from libs.config import Settings
from libs.devstack.procs import free_port
from libs.events.kafka_admin import apply_topics
from libs.events.migrations import run_migrations
from libs.events.topics import TopicSpec, all_topics
from libs.web.service import Options
from services.consent.app import create_app as consent_app
from services.journal.app import create_app as journal_app
from tests.journal.conftest import ALLOCATION, HOME_CARE, MUNICIPALITY

APP = journal_app(Settings(environment="test"), Options(telemetry=False))  # schema only
SCHEMA = schemathesis.openapi.from_dict(APP.openapi())


def _serve(app) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "a service did not start"
        time.sleep(0.05)
    return srv, thread, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def server(database_url, kafka_bootstrap, tmp_path_factory):
    """The journal and the consent service on real ports; a patient the nurse may see."""
    unique = f"fz{int(time.time() * 1000) % 10**9}"
    topics = {t: f"{t}.{unique}" for t in ("consent.events", "audit.access", "journal.events")}
    schemas = {name: f"t_{unique}_{name}" for name in ("consent", "journal")}
    asyncio.run(_prepare(database_url, kafka_bootstrap, schemas.values(), topics))
    key = tmp_path_factory.mktemp("issuer") / "key.pem"
    s = Settings(database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap,
                 environment="test", dev_key_path=key, relay_poll_interval_s=0.2)
    servers = [_serve(create(s, Options(schema=schemas[name], topic_names=topics,
                                        telemetry=False)))
               for name, create in (("consent", consent_app), ("journal", journal_app))]
    (_, _, consent_url), (_, _, url) = servers
    issuer = DevIssuer.from_settings(s)
    nurse = {"Authorization": "Bearer " + issuer.mint_practitioner(
        "9144889", MUNICIPALITY, HOME_CARE, ("nurse",), "Nina")}
    case_worker = {"Authorization": "Bearer " + issuer.mint_practitioner(
        "5550001", MUNICIPALITY, ALLOCATION, ("other",), "Kari")}
    patients = {}
    for slot, role in enumerate(("alive", "dies")):
        r = httpx.post(f"{url}/patients", headers=case_worker, json={
            "national_id": synthetic_number(date(1950, 3, 1), slot), "sex": "female",
            "name": {"given": "Astrid", "family": "Hansen"}, "address": {"municipality": "0301"}})
        assert r.status_code == 201, r.text
        patient = patients[role] = r.json()["patient_id"]
        r = httpx.post(f"{consent_url}/patients/{patient}/care-relations", headers=nurse,
                       json={"purpose": "fuzz", "basis": "episode"})
        assert r.status_code == 201, r.text
        seen = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
        deadline = time.monotonic() + 60
        while httpx.get(f"{url}/patients/{patient}", headers=nurse | seen).status_code != 200:
            assert time.monotonic() < deadline, "the journal never saw the care relation"
            time.sleep(0.2)
    yield url, nurse, patients
    for srv, thread, _ in reversed(servers):
        srv.should_exit = True
        thread.join(timeout=30)


async def _prepare(database_url, kafka_bootstrap, schemas, topics):
    for schema in schemas:
        await run_migrations(database_url, schema)
    await apply_topics(kafka_bootstrap, all_topics(tuple(
        TopicSpec(name, 3, "fuzz") for name in topics.values())))


@SCHEMA.parametrize()
@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_input_gets_a_server_error(case, server):
    url, nurse, patients = server
    mode = zlib.crc32(repr((case.path_parameters, case.query)).encode()) % 3
    headers = None if mode == 0 else nurse
    if mode == 2:   # the nurse's own patient: past the access guard, into the handlers
        # (a recorded death would make every later write a 409: that patient is another one)
        patient = patients["dies" if case.path.endswith("/death") else "alive"]
        if case.path_parameters and "patient_id" in case.path_parameters:
            case.path_parameters["patient_id"] = patient
        if case.query and "patient" in case.query:
            case.query["patient"] = patient
        # without the made-up record version, read token and proxy, the body is what counts
        for key in ("If-Match", "X-Consistency-Token", "X-Acting-For"):
            (case.headers or {}).pop(key, None)
        (case.query or {}).pop("consistency_token", None)
    response = case.call(base_url=url, headers=headers, timeout=30)
    case.validate_response(response, checks=[not_a_server_error])
