"""The medication API fuzzed with schemathesis from its own OpenAPI document (REST and FHIR, every
operation): no input, with or without a valid token, gets a 5xx, and every error is an
OperationOutcome. The medication service runs for real (uvicorn on a port, relay and projections
in-process, real PostgreSQL and Kafka), and so does the consent service, which gives the GP's
office a care relation with one patient, whose list has a few entries. A third of the cases
carry no token, a third carry the GP's (a prescriber) on whatever patient the fuzzer makes up,
and a third go to the GP's own patient, past the access guard, into the handlers and decision
support: there a case often names one of the patient's entries and a catalogue product instead
of made-up ids, sends the list's current (or a stale) version in ``If-Match``, and an order in
FHIR is a valid MedicationRequest with one or two elements replaced by the fuzzer's values."""

from __future__ import annotations

import copy
import zlib
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from libs.access.dev_issuer import DevIssuer
from libs.access.model import Role
from libs.config import Settings
from libs.web.service import Options
from services.consent.app import create_app as consent_app
from services.medication.fhir import elements as fhir
from services.medication.app import create_app as medication_app
from services.medication.catalogue import sample_catalogue
from services.medication.fhir.from_fhir import EXT_OVERRIDE_REASON
from tests.journal.conftest import GP_OFFICE, MUNICIPALITY
from tests.journal.edge_dates import date_fields, with_edge_dates
from tests.medication.conftest import ALBYL, IBUX, MAREVAN, PARACET, dose
from tests.medication.test_imported import imported_body
from tests.support.fuzzing import (
    an_operation_outcome, aim_at, fresh_stack, serving, third, until_ok,
)

APP = medication_app(Settings(environment="test"), Options(telemetry=False))  # schema only
SPEC = APP.openapi()
SCHEMA = schemathesis.openapi.from_dict(SPEC)
PRODUCTS = [p.id for p in sample_catalogue().active_products()]
OVERRIDE = "Vurdert: fordelen er større enn risikoen."
DOSES = [dose(1, times_per_day=2), dose(1, as_needed=True, max_per_day=4),
         dose(500, "mg", times_of_day=["08:00", "20:00"]), dose(2, times_per_day=4)]


@dataclass
class Target:
    """The service, the GP's token, their patient, the entries on the patient's list and the
    list's version (from the ``ETag`` of every change: only this test changes that list)."""

    url: str
    gp: dict[str, str]
    patient: str
    entries: list[str] = field(default_factory=list)
    version: int = 0

    def seen(self, method: str, status: int, etag: str | None) -> None:
        """An answer: a change's ``ETag`` is the list's new version (a read's may be older,
        a FHIR read's is the resource's)."""
        if method == "POST" and status < 300 and etag:
            self.version = max(self.version, int(etag.removeprefix("W/").strip('"')))

    def write(self, path: str, body: dict, expect: int = 201) -> httpx.Response:
        r = httpx.post(f"{self.url}/patients/{self.patient}/medication-list{path}", json=body,
                       headers=self.gp | {"If-Match": f'W/"{self.version}"'}, timeout=30)
        assert r.status_code == expect, r.text
        self.seen("POST", r.status_code, r.headers.get("ETag"))
        return r


@pytest.fixture(scope="module")
def target(database_url, kafka_bootstrap, tmp_path_factory):
    """The medication and the consent service on real ports; the GP's patient with warfarin
    twice a day, paracetamol as needed, an over-the-counter ibuprofen (warned: it is "avoid"
    with warfarin) and acetylsalicylic acid, paused."""
    topics, schemas = fresh_stack(
        database_url, kafka_bootstrap,
        ("consent.events", "audit.access", "journal.events", "medication.events"),
        ("consent", "medication"))
    key = tmp_path_factory.mktemp("issuer") / "key.pem"
    s = Settings(database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap,
                 environment="test", dev_key_path=key, relay_poll_interval_s=0.2)
    with serving(create(s, Options(schema=schemas[name], topic_names=topics, telemetry=False))
                 for name, create in (("consent", consent_app),
                                      ("medication", medication_app))) as servers:
        consent_url, url = (x.url for x in servers)
        issuer = DevIssuer.from_settings(s)
        gp = {"Authorization": "Bearer " + issuer.mint_practitioner(
            "7654321", MUNICIPALITY, GP_OFFICE, (Role.physician, Role.prescriber), "Lege")}
        leader = {"Authorization": "Bearer " + issuer.mint_practitioner(   # assigns (AC3)
            "1234567", MUNICIPALITY, GP_OFFICE, (Role.unit_leader,), "Leder")}
        t = Target(url, gp, str(uuid4()))
        r = httpx.post(f"{consent_url}/patients/{t.patient}/care-relations", headers=leader,
                       json={"purpose": "fastlege", "basis": "referral", "reason": "fastlege"})
        assert r.status_code == 201, r.text
        seen = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
        until_ok(lambda: httpx.get(f"{url}/patients/{t.patient}/medication-list",
                                   headers=gp | seen), "the service never saw the relation")
        ordered = {"override_reason": OVERRIDE}
        for path, body in (
                ("/prescriptions", ordered | {"product_id": MAREVAN,
                                              "dose": dose(1, times_per_day=2)}),
                ("/prescriptions", ordered | {"product_id": PARACET,
                                              "dose": dose(1, as_needed=True, max_per_day=4)}),
                ("/other-sources", {"product_id": IBUX, "source": "over_the_counter",
                                    "dose": dose(1, as_needed=True, max_per_day=3)}),
                ("/prescriptions", ordered | {"product_id": ALBYL,
                                              "dose": dose(1, times_per_day=1)})):
            t.entries.append(t.write(path, body).json()["entry_id"])
        t.write(f"/entries/{t.entries[-1]}/pause", {"reason": "Operasjon"}, expect=200)
        yield t


def plausible(value: Any, t: Target, pick: int) -> Any:
    """The fuzzer's body with, where it names them, a real entry, a catalogue product (three
    times in four) and a valid dose (every second time) instead of made-up ones."""
    if isinstance(value, list):
        return [plausible(v, t, pick + i) for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    out = {}
    for i, (k, v) in enumerate(value.items()):
        n = pick + i
        if k == "entry_id" and n % 4:
            v = t.entries[n % len(t.entries)]
        elif k == "product_id" and n % 4:
            v = PRODUCTS[n % len(PRODUCTS)]
        elif k == "dose" and n % 2:
            v = DOSES[n % len(DOSES)]
        out[k] = plausible(v, t, n)
    return out


def an_order(t: Target, product: str) -> dict[str, Any]:
    """A valid FHIR order: one tablet twice a day, going ahead against any warning."""
    return {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "subject": {"reference": f"Patient/{t.patient}"},
            "medicationCodeableConcept": {"coding": [{"system": fhir.FEST_MERKEVARE,
                                                      "code": product}]},
            "dosageInstruction": [{
                "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                "route": {"text": "oral"},
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablett"}}]}],
            "reasonCode": [{"text": "fuzz"}],
            "extension": [{"url": EXT_OVERRIDE_REASON, "valueString": OVERRIDE}]}


# where the fuzzer's values go into a valid FHIR order
ORDER_ELEMENTS: list[tuple[Any, ...]] = [
    ("status",), ("intent",), ("subject", "reference"), ("medicationCodeableConcept",),
    ("medicationCodeableConcept", "coding", 0, "code"), ("dosageInstruction",),
    ("dosageInstruction", 0, "timing", "repeat", "frequency"),
    ("dosageInstruction", 0, "timing", "repeat", "timeOfDay"),
    ("dosageInstruction", 0, "timing", "repeat", "boundsPeriod"),
    ("dosageInstruction", 0, "asNeededBoolean"), ("dosageInstruction", 0, "maxDosePerPeriod"),
    ("dosageInstruction", 0, "route"), ("dosageInstruction", 0, "doseAndRate"),
    ("dosageInstruction", 0, "doseAndRate", 0, "doseQuantity", "value"),
    ("dosageInstruction", 0, "doseAndRate", 0, "doseQuantity", "unit"),
    ("reasonCode",), ("extension",), ("extension", 0, "valueString")]


def put(order: dict[str, Any], element: tuple[Any, ...], value: Any) -> None:
    """``value`` as the order's ``element`` (nothing when an earlier change removed its
    parent)."""
    *parents, last = element
    node: Any = order
    for step in parents:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(node, dict) or (isinstance(node, list) and last < len(node)):
        node[last] = copy.deepcopy(value)


def mutated_order(body: Any, t: Target, pick: int) -> dict[str, Any]:
    """A valid order with the fuzzer's values (none, one or two) put in its elements."""
    order = an_order(t, PRODUCTS[pick % len(PRODUCTS)])
    values = list(body.values()) if isinstance(body, dict) else [body]
    for i, value in enumerate(values[:pick % 3]):
        put(order, ORDER_ELEMENTS[(pick + 7 * i) % len(ORDER_ELEMENTS)], value)
    return order


def takes_if_match(case) -> bool:
    params = SPEC["paths"][case.path].get(case.method.lower(), {}).get("parameters", [])
    return any(p["name"] == "If-Match" for p in params)


def aim_at_own_patient(case, t: Target) -> None:
    """Past the guard: the GP's patient, its entries and catalogue products, the list's
    version in ``If-Match`` for a third of the changes (a stale one for another third)."""
    pick = zlib.crc32(repr((case.path, case.path_parameters, case.query, case.body,
                            case.headers)).encode())
    aim_at(case, t.patient)
    (case.headers or {}).pop("authorization", None)   # the GP's token, not the fuzzer's
    if case.path == "/fhir/{rtype}" and "patient" not in (case.query or {}):
        case.query = (case.query or {}) | {"patient": ("", "Patient/")[pick % 2] + t.patient}
    params = case.path_parameters or {}
    if "entry_id" in params and pick % 4:
        params["entry_id"] = t.entries[pick % len(t.entries)]
    if "rtype" in params and pick % 4:
        params["rtype"] = ("MedicationStatement", "MedicationRequest",
                           "MedicationAdministration", "List")[pick % 4]
    if "rid" in params and pick % 3:
        params["rid"] = t.patient if params.get("rtype") == "List" else t.entries[
            pick % len(t.entries)]
    if case.path == "/fhir/MedicationRequest" and case.method == "POST" and pick % 4:
        case.body = mutated_order(case.body, t, pick)
    elif isinstance(case.body, dict | list):
        case.body = plausible(case.body, t, pick)
    if takes_if_match(case) and pick % 3 != 2:
        version = t.version - (pick % 3)          # the current one, or one that is stale
        case.headers = case.headers or {}
        case.headers["If-Match"] = f'W/"{max(version, 0)}"'


@SCHEMA.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_input_gets_a_server_error_and_every_error_is_an_operation_outcome(case, target):
    mode = third(case, case.body, case.headers)
    headers = None if mode == 0 else target.gp
    if mode == 2:
        aim_at_own_patient(case, target)
    response = case.call(base_url=target.url, headers=headers, timeout=30)
    if mode == 2:
        etag = response.headers.get("etag") or [None]
        target.seen(case.method, response.status_code, etag[0])
    case.validate_response(response, checks=[not_a_server_error, an_operation_outcome])


ODD_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
    | st.sampled_from(["", "d", "h", "mg", "oral", "08:00:00", "24:00:00", "2026", "2026-02-30",
                       "2099-01-01", "2000-01-01T00:00:00", "Patient/", "active", "order"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["value", "unit", "code", "text", "numerator", "denominator", "start",
                         "end", "repeat", "frequency", "timeOfDay", "coding", "system", "url",
                         "valueString", "doseQuantity"]), inner, max_size=3),
    max_leaves=6)


@given(changes=st.lists(st.tuples(st.integers(0, len(ORDER_ELEMENTS) - 1), ODD_VALUES),
                        max_size=2), product=st.sampled_from(PRODUCTS))
@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_fhir_order_gets_a_server_error(changes, product, target):
    """A valid FHIR order with up to two elements replaced by odd values (the schema says only
    "an object", so schemathesis alone seldom gets past ``resourceType``)."""
    order = an_order(target, product)
    for at, value in changes:
        put(order, ORDER_ELEMENTS[at], value)
    r = httpx.post(f"{target.url}/fhir/MedicationRequest", json=order, timeout=30,
                   headers=target.gp | {"If-Match": f'W/"{target.version}"'})
    target.seen("POST", r.status_code, r.headers.get("ETag"))
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.json()["resourceType"] == "OperationOutcome", r.text


EDGE_FIELDS = date_fields(SPEC)


@SCHEMA.include(lambda ctx: (ctx.operation.path, ctx.operation.method.upper())
                in EDGE_FIELDS).parametrize()
@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_edge_dates_and_instants_get_no_server_error(case, target):
    """Issue 12: every date and instant parameter and body field, seeded with values at and past
    the edge of what the service can hold, on the GP's own patient with the list's current
    version (past the guard and If-Match, into the domain)."""
    aim_at_own_patient(case, target)
    if takes_if_match(case):
        case.headers = case.headers or {}
        case.headers["If-Match"] = f'W/"{target.version}"'
    pick = zlib.crc32(repr((case.path, case.query, case.body)).encode())
    with_edge_dates(case, EDGE_FIELDS.get((case.path, case.method.upper()), []), pick)
    response = case.call(base_url=target.url, headers=target.gp, timeout=30)
    etag = response.headers.get("etag") or [None]
    target.seen(case.method, response.status_code, etag[0])
    case.validate_response(response, checks=[not_a_server_error, an_operation_outcome])


IMPORT_ELEMENTS: list[tuple[Any, ...]] = [
    ("status",), ("identifier",), ("identifier", 0, "value"), ("derivedFrom",),
    ("derivedFrom", 0, "type"), ("subject", "reference"), ("medicationCodeableConcept",),
    ("medicationCodeableConcept", "coding", 0, "system"),
    ("medicationCodeableConcept", "coding", 0, "code"), ("effectivePeriod",),
    ("effectivePeriod", "start"), ("effectivePeriod", "end"), ("dateAsserted",), ("dosage",),
    ("dosage", 0, "text"), ("dosage", 0, "asNeededBoolean")]


@given(changes=st.lists(st.tuples(st.integers(0, len(IMPORT_ELEMENTS) - 1), ODD_VALUES),
                        max_size=2), source=st.integers(0, 3))
@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_imported_statement_gets_a_server_error(changes, source, target):
    """An imported MedicationStatement (another record's, RxNorm-coded; one of four source
    records, so repeats happen) with up to two elements replaced by odd values."""
    body = imported_body(target.patient)
    identifier = {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{UUID(int=source)}"}
    body["identifier"], body["derivedFrom"][0]["identifier"] = [identifier], identifier
    for at, value in changes:
        put(body, IMPORT_ELEMENTS[at], value)
    r = httpx.post(f"{target.url}/fhir/MedicationStatement", json=body, timeout=30,
                   headers=target.gp)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.json()["resourceType"] == "OperationOutcome", r.text
    elif not changes:
        assert r.status_code in (200, 201) and r.json()["status"] == "stopped", r.text
