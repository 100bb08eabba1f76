"""One FHIR base for the whole record, on the real stack: the consent service, the journal and
the medication service (real PostgreSQL and Kafka) served on TCP ports, Debian's nginx in front
of them with the config ``ehr gateway`` writes from the routing map. A client with one base URL
reads and searches what three services hold, and reads one CapabilityStatement."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import date

import httpx
import uvicorn

from cli.gateway import render, start, stop, write
from cli.manifests import MANIFESTS
from libs.devstack.procs import free_port
from tests.medication.conftest import PARACET, Ward
from tests.support.waiting import passes


@asynccontextmanager
async def on_a_port(app) -> AsyncIterator[str]:
    """``app`` (its lifespan already entered) served by uvicorn on a free port: host:port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    address = "127.0.0.1:%d" % sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), task
            await asyncio.sleep(0.02)
        yield address
    finally:
        server.should_exit = True
        await task
        sock.close()


@asynccontextmanager
async def gateway(ward: Ward, tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    """nginx with the generated config, in front of the three services; a client on its base."""
    c = ward.c
    async with AsyncExitStack() as stack:
        upstreams = {name: await stack.enter_async_context(on_a_port(app))
                     for name, app in (("consent", c.consent_app), ("journal", c.journal_app),
                                       ("medication", c.medication_app))}
        listen = f"127.0.0.1:{free_port()}"
        prefix = tmp_path / "gateway"
        write(prefix, await render(MANIFESTS, upstreams, listen=listen,
                                   base_url=f"http://{listen}/fhir"))
        start(prefix)
        try:
            yield await stack.enter_async_context(
                httpx.AsyncClient(base_url=f"http://{listen}/fhir", timeout=30))
        finally:
            assert stop(prefix)


async def a_record(ward: Ward) -> tuple[str, str]:
    """A patient under home care with a pulse in the journal, Paracet on the medication list and
    a consent the patient gave; returns (patient id, national id)."""
    c = ward.c
    patient_id, national_id = await ward.patient()
    r = await c.journal.post(f"/patients/{patient_id}/observations", headers=c.nurse(),
                             json={"code": "8867-4", "value": 72})
    assert r.status_code == 201, r.text
    await ward.prescribe(patient_id, PARACET, indication="Smerter")

    async def consented() -> None:
        r = await c.consent.post(f"/patients/{patient_id}/consents",
                                 headers=c.citizen(national_id),
                                 json={"sector": "nav", "categories": ["home_care"],
                                       "purpose": "oppfølging av arbeidsevne"})
        assert r.status_code == 201, r.text
    await passes(consented, timeout_s=30)
    return patient_id, national_id


async def found(g: httpx.AsyncClient, path: str, headers: dict, **params) -> dict:
    """Search through the gateway until the read model has what was written."""
    async def one() -> dict:
        r = await g.get(path, headers=headers, params=params)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/fhir+json")
        assert r.json()["resourceType"] == "Bundle" and r.json().get("entry"), r.text
        return r.json()
    return await passes(one, timeout_s=30)


async def test_one_base_reads_and_searches_the_record_of_three_services(ward: Ward, tmp_path):
    c = ward.c
    patient_id, national_id = await a_record(ward)
    async with gateway(ward, tmp_path) as g:
        base = str(g.base_url).rstrip("/")
        reads = {"Observation": c.nurse(), "MedicationStatement": c.gp(),
                 "Consent": c.citizen(national_id)}
        for rtype, who in reads.items():
            bundle = await found(g, f"/{rtype}", who, patient=patient_id)
            resource = bundle["entry"][0]["resource"]
            assert resource["resourceType"] == rtype
            # the links the owning service writes name the one base (Host kept by the proxy)
            assert bundle["entry"][0]["fullUrl"].startswith(f"{base}/{rtype}/"), bundle
            r = await g.get(f"/{rtype}/{resource['id']}", headers=who)
            assert r.status_code == 200, (rtype, r.text)
            assert r.json()["id"] == resource["id"]
        pulse = (await found(g, "/Observation", c.nurse(), patient=patient_id,
                             code="8867-4"))["entry"][0]["resource"]
        assert pulse["valueQuantity"]["value"] == 72

        # the per-service bases keep working beside it
        r = await c.journal.get(f"/fhir/Observation/{pulse['id']}", headers=c.nurse())
        assert r.status_code == 200 and r.json()["id"] == pulse["id"]

        # need-to-know still decides, behind the gateway as before it
        r = await g.get("/Consent", headers=c.nurse(), params={"patient": patient_id})
        assert r.status_code == 200
        r = await g.get("/MedicationStatement", params={"patient": patient_id})
        assert r.status_code == 401, r.text


async def test_one_capability_statement_and_unknown_paths(ward: Ward, tmp_path):
    async with gateway(ward, tmp_path) as g:
        r = await g.get("/metadata")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/fhir+json")
        statement = r.json()
        assert statement["kind"] == "instance" and statement["fhirVersion"] == "4.0.1"
        assert statement["implementation"]["url"] == str(g.base_url).rstrip("/")   # cpb-14
        served = {x["type"] for x in statement["rest"][0]["resource"]}
        assert {"Consent", "AuditEvent", "Patient", "Observation", "MedicationStatement",
                "MedicationRequest"} <= served
        assert {"code": "transaction"} in statement["rest"][0]["interaction"]
        assert date.fromisoformat(statement["date"])

        for path in ("/Spaceship", "/Spaceship/1", "/Observations", g.base_url.join("/admin")):
            r = await g.get(path)
            assert r.status_code == 404, path
            assert r.headers["content-type"].startswith("application/fhir+json")
            assert r.json()["resourceType"] == "OperationOutcome"
            assert r.json()["issue"][0]["code"] == "not-found"
        r = await g.get("")
        assert r.status_code == 405 and r.json()["resourceType"] == "OperationOutcome"
        # a Bundle goes to the journal: the journal's own refusal of an empty transaction
        r = await g.post("", json={"resourceType": "Bundle", "type": "transaction"},
                         headers=ward.c.nurse())
        assert 400 <= r.status_code < 500 and r.json()["resourceType"] == "OperationOutcome"
