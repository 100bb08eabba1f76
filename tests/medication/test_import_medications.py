"""Issue 19 item 4 on the real stack (PostgreSQL, Kafka): ``ehr import synthea`` sends a
patient's MedicationRequests to the medication service over HTTP, never by importing its code.
Without a medication service the journal's part is imported and the medications are counted as
not sent; with the services running, the import unit's leader assigns the care relation on the
consent service, the medication service takes the statements once it has reached it over Kafka,
and every MedicationRequest reads back from the medication service's FHIR API as an imported
MedicationStatement, its RxNorm code and status kept. A third run records nothing new; without
a leader to assign the relation, the wait is bounded and the rest counted with why."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from datetime import UTC, datetime
from uuid import uuid4

from libs.config import get_settings
from libs.devstack.procs import free_port
from services.journal.fhir.medication_out import Sent, importer_tokens, send_all, statements_of
from services.journal.fhir.from_fhir import map_bundle
from services.journal.fhir.synthea import SyntheaPolicy
from tests.gateway.test_one_base import on_a_port
from tests.journal.conftest import running_clinic
from tests.journal.test_fhir_in import DATA
from tests.journal.test_import_synthea import invoke
from tests.support.outbox import outbox_to_test_topic
from tests.support.waiting import passes

BUNDLE = DATA / "0f49d2d0-59be-4f72-a22b-0a582367b44b.json"   # 4 MedicationRequests
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def kept(output: str) -> tuple[int, int, int]:
    """(in the bundles, kept in the medication service, of them already there before)."""
    found = re.search(r"^  MedicationRequest: (\d+) in the bundles, (\d+) kept in the "
                      r"medication service as imported MedicationStatements \((\d+) of them there "
                      r"already",
                      output, re.MULTILINE)
    assert found, output
    return int(found[1]), int(found[2]), int(found[3])


async def import_bundle(schema: str, fhir: str, consent: str):
    res = await asyncio.to_thread(invoke, "import", "synthea", str(BUNDLE), "--schema", schema,
                                  "--medication-url", fhir, "--consent-url", consent)
    assert res.exit_code == 0, res.output
    return res.output


async def test_an_imports_medications_read_back_from_the_medication_service(
        cli_env, database_url, kafka_bootstrap, unique, make_topics, tmp_path, monkeypatch):
    bundle = json.loads(BUNDLE.read_text(encoding="utf-8"))
    requests = [e["resource"] for e in bundle["entry"]
                if e["resource"]["resourceType"] == "MedicationRequest"]
    expected = sorted((r["medicationCodeableConcept"]["coding"][0]["code"], r["status"])
                      for r in requests)
    patient = str(map_bundle(bundle, SyntheaPolicy(datetime.now(UTC))).patient_id)
    schema = f"t_{unique}_journal"
    monkeypatch.setenv("EHR_DEV_KEY_PATH", str(tmp_path / "key.pem"))   # the clinic's issuer
    get_settings.cache_clear()

    # no medication service: the journal's part goes in, the medications are not sent, and why
    closed = f"http://127.0.0.1:{free_port()}"
    out = await import_bundle(schema, f"{closed}/fhir", closed)
    assert kept(out) == (len(requests), 0, 0)
    assert f"did not answer ({len(requests)})" in out
    # the journal's outbox names this test's topic, as a running journal's would
    await outbox_to_test_topic(database_url, schema, make_topics)

    async with running_clinic(database_url, kafka_bootstrap, unique, make_topics, tmp_path,
                              medication=True) as c, \
            on_a_port(c.medication_app) as medication, on_a_port(c.consent_app) as consent:
        bases = (f"http://{medication}/fhir", f"http://{consent}")
        out = await import_bundle(schema, *bases)
        assert kept(out) == (len(requests), len(requests), 0)
        assert "MedicationRequest: kept in the medication service" in out

        nurse = c.nurse()   # of the import unit, which now has the care relation

        async def search(**params) -> dict:
            r = await c.medication.get("/fhir/MedicationStatement", headers=nurse,
                                       params={"patient": patient} | params)
            assert r.status_code == 200, r.text
            return r.json()

        async def read_back() -> None:
            assert (await search())["total"] == len(requests)
        await passes(read_back, timeout_s=30)
        statements = [e["resource"] for e in (await search())["entry"]]
        assert sorted((s["medicationCodeableConcept"]["coding"][0]["code"], s["status"])
                      for s in statements) == expected
        assert {s["medicationCodeableConcept"]["coding"][0]["system"]
                for s in statements} == {RXNORM}
        assert {s["identifier"][0]["value"] for s in statements} == {
            f"urn:uuid:{r['id']}" for r in requests}
        active = sum(r["status"] == "active" for r in requests)
        assert (await search(status="active"))["total"] == active
        assert all("Må avstemmes" in s["note"][0]["text"]
                   for s in statements if s["status"] == "active")
        assert (await search(code=f"{RXNORM}|313782"))["total"] == sum(
            r["medicationCodeableConcept"]["coding"][0]["code"] == "313782" for r in requests)
        # nothing was ordered: no prescription, nothing on the PLL
        r = await c.medication.get("/fhir/MedicationRequest", headers=nurse,
                                   params={"patient": patient})
        assert r.status_code == 200 and r.json()["total"] == 0, r.text

        # a second run with the services up: everything already there, nothing new recorded
        out = await import_bundle(schema, *bases)
        assert kept(out) == (len(requests), len(requests), len(requests))
        assert (await search())["total"] == len(requests)

        # no one who may assign the relation (a nurse instead of the unit leader): refused for
        # the whole wait, then counted with why
        sent, stranger = Sent(), uuid4()
        batches = [(stranger, statements_of(bundle, stranger, sent))]
        nurse_only = importer_tokens(c.issuer)[0]
        await send_all(*bases, (nurse_only, nurse_only), batches, sent, wait_s=1)
        assert sent.not_sent == Counter({"MedicationRequest: the medication service did not "
                                         "let the importer write for the patient in time":
                                         len(requests)})
        assert sent.kept == sent.already == Counter()
