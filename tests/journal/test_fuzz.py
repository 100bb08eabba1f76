"""The journal API fuzzed with schemathesis from its own OpenAPI document: no input, with or
without a valid token, gets a 5xx. The journal runs for real (uvicorn on a port, relay and
projections in-process, real PostgreSQL and Kafka), and so does the consent service, which
gives the nurse care relations with two patients: a third of the cases go to that patient (past
the access guard, into the handlers), a third to whatever patient the fuzzer makes up, a third
carry no token at all."""

from __future__ import annotations

import zlib
from datetime import date

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from libs.access.dev_issuer import DevIssuer
from libs.kernel.identifiers import synthetic_number
from libs.config import Settings
from libs.web.service import Options
from services.consent.app import create_app as consent_app
from services.journal.app import create_app as journal_app
from tests.journal.conftest import ALLOCATION, HOME_CARE, MUNICIPALITY
from tests.journal.edge_dates import date_fields, with_edge_dates
from tests.support.fuzzing import aim_at, fresh_stack, serving, third, until_ok

APP = journal_app(Settings(environment="test"), Options(telemetry=False))  # schema only
SCHEMA = schemathesis.openapi.from_dict(APP.openapi())


@pytest.fixture(scope="module")
def server(database_url, kafka_bootstrap, tmp_path_factory):
    """The journal and the consent service on real ports; a patient the nurse may see."""
    topics, schemas = fresh_stack(database_url, kafka_bootstrap,
                                  ("consent.events", "audit.access", "journal.events",
                                   "welfare.events"),
                                  ("consent", "journal"))
    key = tmp_path_factory.mktemp("issuer") / "key.pem"
    s = Settings(database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap,
                 environment="test", dev_key_path=key, relay_poll_interval_s=0.2)
    with serving(create(s, Options(schema=schemas[name], topic_names=topics, telemetry=False))
                 for name, create in (("consent", consent_app),
                                      ("journal", journal_app))) as servers:
        consent_url, url = (x.url for x in servers)
        issuer = DevIssuer.from_settings(s)
        nurse = {"Authorization": "Bearer " + issuer.mint_practitioner(
            "9144889", MUNICIPALITY, HOME_CARE, ("nurse",), "Nina")}
        leader = {"Authorization": "Bearer " + issuer.mint_practitioner(   # assigns (AC3)
            "1234567", MUNICIPALITY, HOME_CARE, ("unit_leader",), "Leder")}
        case_worker = {"Authorization": "Bearer " + issuer.mint_practitioner(
            "5550001", MUNICIPALITY, ALLOCATION, ("other",), "Kari")}
        patients = {}
        for slot, role in enumerate(("alive", "dies")):
            r = httpx.post(f"{url}/patients", headers=case_worker, json={
                "national_id": synthetic_number(date(1950, 3, 1), slot), "sex": "female",
                "name": {"given": "Astrid", "family": "Hansen"},
                "address": {"municipality": "0301"}})
            assert r.status_code == 201, r.text
            patient = patients[role] = r.json()["patient_id"]
            r = httpx.post(f"{consent_url}/patients/{patient}/care-relations", headers=leader,
                           json={"purpose": "fuzz", "basis": "episode", "reason": "fuzzing"})
            assert r.status_code == 201, r.text
            seen = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
            until_ok(lambda patient=patient, seen=seen: httpx.get(
                f"{url}/patients/{patient}", headers=nurse | seen),
                "the journal never saw the care relation")
        yield url, nurse, patients


@SCHEMA.parametrize()
@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_input_gets_a_server_error(case, server):
    url, nurse, patients = server
    mode = third(case)
    headers = None if mode == 0 else nurse
    if mode == 2:   # the nurse's own patient: past the access guard, into the handlers
        # (a recorded death would make every later write a 409: that patient is another one)
        aim_at(case, patients["dies" if case.path.endswith("/death") else "alive"])
    response = case.call(base_url=url, headers=headers, timeout=30)
    case.validate_response(response, checks=[not_a_server_error])


EDGE_FIELDS = date_fields(APP.openapi())


@SCHEMA.include(lambda ctx: (ctx.operation.path, ctx.operation.method.upper())
                in EDGE_FIELDS).parametrize()
@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_edge_dates_and_instants_get_no_server_error(case, server):
    """Issue 12: every date and instant parameter and body field, seeded with values at and past
    the edge of what the service can hold, on the nurse's own patient (past the guard)."""
    url, nurse, patients = server
    patient = patients["dies" if case.path.endswith("/death") else "alive"]
    aim_at(case, patient)
    params = case.path_parameters or {}
    if case.path == "/fhir/{rtype}":
        params["rtype"] = "Observation"
        case.query = (case.query or {}) | {"patient": patient}
    elif case.path == "/fhir/{rtype}/{rid}":
        params.update(rtype="Patient", rid=patient)
    pick = zlib.crc32(repr((case.path, case.query, case.body)).encode())
    with_edge_dates(case, EDGE_FIELDS.get((case.path, case.method.upper()), []), pick)
    response = case.call(base_url=url, headers=nurse, timeout=30)
    case.validate_response(response, checks=[not_a_server_error])
