"""What ``ehr import synthea`` sends the medication service (``services/journal/fhir/
medication_out.py``), pure: a Synthea bundle's MedicationRequests as imported
MedicationStatements that the medication service's own reading takes as they are, what is not
sent and why, and how the summary counts them."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from uuid import uuid4

from services.journal.fhir.from_fhir import map_bundle
from services.journal.fhir.medication_out import (
    KEPT, Sent, send_import, settle, statements_of, summary_lines,
)
from services.journal.fhir.synthea import SyntheaPolicy
from services.journal.fhir.plan import NOT_JOURNAL
from services.medication.fhir.imported import (
    import_command, parsed_statement, statement_subject,
)
from tests.journal.test_fhir_in import DATA

BUNDLE = DATA / "0f49d2d0-59be-4f72-a22b-0a582367b44b.json"   # 4 MedicationRequests


def requests_of(bundle: dict) -> list[dict]:
    return [e for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationRequest"]


def test_every_request_becomes_a_statement_the_medication_service_takes():
    bundle, patient, sent = json.loads(BUNDLE.read_text(encoding="utf-8")), uuid4(), Sent()
    statements = statements_of(bundle, patient, sent)
    requests = requests_of(bundle)
    assert len(statements) == len(requests) == sent.in_bundles["MedicationRequest"] == 4
    assert not sent.not_sent
    for body, entry in zip(statements, requests, strict=True):
        source = entry["resource"]
        read = parsed_statement(body)
        assert statement_subject(read) == patient
        command = import_command(read)
        assert (command.source_id, command.source_type, command.status) == (
            entry["fullUrl"], "MedicationRequest", source["status"])
        assert [c.model_dump(exclude_none=True) for c in command.codings] == \
            source["medicationCodeableConcept"]["coding"]
        assert command.start_on.isoformat() == source["authoredOn"][:10]
    dosed = import_command(parsed_statement(statements[1]))   # metoprolol, once a day
    assert dosed.dosage_text and "1 gang(er) per 1 d" in dosed.dosage_text


def test_what_is_not_sent_is_counted_with_why():
    bundle = json.loads(BUNDLE.read_text(encoding="utf-8"))
    first, second, third, fourth = (e["resource"] for e in requests_of(bundle))
    first["status"] = "cancelled"
    second["intent"] = "proposal"
    third["medicationCodeableConcept"] = {"coding": [{"system": "http://example.org/local",
                                                      "code": "x"}], "text": "Lokalt"}
    fourth.pop("medicationCodeableConcept")
    sent = Sent()
    assert statements_of(bundle, uuid4(), sent) == []
    assert sent.not_sent == Counter({
        "MedicationRequest: status cancelled is not imported (only active, stopped, "
        "completed)": 1,
        "MedicationRequest: intent proposal is not an order or a plan": 1,
        "MedicationRequest: no RxNorm, ATC or SNOMED CT coding": 2})


def test_the_summary_counts_them_as_kept_in_the_medication_service():
    sent = Sent(in_bundles=Counter(MedicationRequest=4), kept=Counter(MedicationRequest=3),
                not_sent=Counter({"MedicationRequest: the medication service at "
                                  "http://x/fhir did not answer": 1}))
    skipped = Counter({NOT_JOURNAL["MedicationRequest"]: 4, "Claim: not part of the journal": 2})
    settle(skipped, sent)
    assert skipped == Counter({
        NOT_JOURNAL["MedicationRequest"]: 1, "Claim: not part of the journal": 2,
        f"MedicationRequest: {KEPT} as imported MedicationStatements": 3})
    assert summary_lines(sent)[1] == (
        "  MedicationRequest: 4 in the bundles, 3 kept in the medication service as imported "
        "MedicationStatements (0 of them there already) — the medication service at "
        "http://x/fhir did not answer (1)")


def test_off_sends_nothing_and_says_so():
    bundle, sent = json.loads(BUNDLE.read_text(encoding="utf-8")), Sent()
    plan = map_bundle(bundle, SyntheaPolicy(datetime.now(UTC)))
    send_import([BUNDLE], [plan], ("off", "off"), ("", ""), sent, None)
    assert sent.not_sent == Counter({"MedicationRequest: not sent (--medication-url off)": 4})
