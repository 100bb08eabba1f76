"""A medication from another system's record on the list as an imported statement: the
decision, the fold and the FHIR it reads back as, and what ``POST /fhir/MedicationStatement``
refuses. Pure: no I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from libs.kernel.errors import Forbidden, Invalid
from services.medication.domain import Dispenser, Nurse, Prescriber
from services.medication.domain.evolve import fold
from services.medication.domain.imported import record_imported
from services.medication.domain.reads import current_list
from services.medication.fhir.imported import import_command, parsed_statement
from services.medication.fhir.resources import resource, resources_of
from services.medication.fhir.touched import touched
from services.medication.views import visible

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
NURSE = Nurse(hpr="1000001", unit="974600978")
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SOURCE = "urn:uuid:fd2acfe4-c80f-4687-89ac-d6e1348bb727"


def imported_body(patient, **more) -> dict:
    identifier = {"system": "urn:ietf:rfc:3986", "value": SOURCE}
    return {"resourceType": "MedicationStatement", "status": "stopped",
            "identifier": [identifier],
            "derivedFrom": [{"type": "MedicationRequest", "identifier": identifier}],
            "subject": {"reference": f"Patient/{patient}"},
            "medicationCodeableConcept": {"coding": [
                {"system": RXNORM, "code": "313782",
                 "display": "Acetaminophen 325 MG Oral Tablet"},
                {"system": "http://www.whocc.no/atc", "code": "N02BE01"}]},
            "effectivePeriod": {"start": "2008-05-30"},
            "dateAsserted": "2008-05-30T06:58:56+00:00",
            "dosage": [{"text": "1 tablett ved behov", "asNeededBoolean": True}]} | more


def imported(patient, **more):
    command = import_command(parsed_statement(imported_body(patient, **more)))
    events = record_imported(fold(patient, []), command, NURSE, NOW)
    return command, events, fold(patient, events)


def test_a_stopped_request_reads_back_as_a_stopped_statement_with_its_rxnorm_code():
    patient = uuid4()
    _, events, lst = imported(patient)
    [statement] = [r for r in resources_of(lst) if r["resourceType"] == "MedicationStatement"]
    assert statement["status"] == "stopped"
    assert statement["medicationCodeableConcept"]["coding"][0] == {
        "system": RXNORM, "code": "313782", "display": "Acetaminophen 325 MG Oral Tablet"}
    assert statement["medicationCodeableConcept"]["text"] == "Acetaminophen 325 MG Oral Tablet"
    assert statement["identifier"] == [{"system": "urn:ietf:rfc:3986", "value": SOURCE}]
    assert statement["derivedFrom"][0]["type"] == "MedicationRequest"
    assert statement["effectivePeriod"] == {"start": "2008-05-30"}
    assert statement["dateAsserted"].startswith("2008-05-30T06:58:56")
    assert statement["dosage"] == [{"text": "1 tablett ved behov", "asNeededBoolean": True}]
    note = statement["note"][0]["text"]
    assert "ikke kontrollert mot FEST" in note and "avstemmes" not in note
    assert events[0].atc == "N02BE01"
    assert touched(lst, events[0]) == [("MedicationStatement", statement["id"])]
    assert resource(lst, "MedicationStatement", statement["id"]) == statement


def test_an_active_one_must_be_reconciled_and_is_no_entry_of_the_plan():
    patient = uuid4()
    _, _, lst = imported(patient, status="active")
    [statement] = [r for r in resources_of(lst) if r["resourceType"] == "MedicationStatement"]
    assert statement["status"] == "active"
    assert "Må avstemmes" in statement["note"][0]["text"]
    # not an order: no prescription, nothing on the List, no entry to chart or check against
    assert [r["resourceType"] for r in resources_of(lst)] == ["MedicationStatement"]
    assert current_list(lst, NOW) == () and lst.active_entries(NOW) == ()
    assert [c.action for c in lst.changes] == ["imported"]


def test_the_same_source_record_again_records_nothing():
    patient = uuid4()
    command, _, lst = imported(patient)
    assert record_imported(lst, command, NURSE, NOW) == []
    other = command.model_copy(update={"source_id": "urn:uuid:" + str(uuid4())})
    assert len(record_imported(lst, other, NURSE, NOW)) == 1


def test_who_may_import():
    patient = uuid4()
    command = import_command(parsed_statement(imported_body(patient)))
    assert record_imported(fold(patient, []), command, Prescriber(hpr="7123456",
                                                                  unit="974600978"), NOW)
    with pytest.raises(Forbidden):
        record_imported(fold(patient, []), command, Dispenser(client_id="dosett-1"), NOW)


def test_a_locked_section_withholds_the_imported_statements_too():
    _, _, lst = imported(uuid4())
    seen, _ = visible(lst, frozenset({"medication"}))
    assert seen.imported == ()


@pytest.mark.parametrize("change, where", [
    ({"status": "intended"}, "status"),
    ({"identifier": []}, "identifier"),
    ({"medicationCodeableConcept": {"coding": [
        {"system": "http://legemiddelverket.no/FEST/LegemiddelMerkevareID", "code": "ID_1"}]}},
     "other-sources"),
    ({"medicationCodeableConcept": {"coding": [{"system": "http://example.org/x", "code": "1"}]}},
     "medicationCodeableConcept.coding"),
    ({"medicationCodeableConcept": {"text": "only a name"}}, "medicationCodeableConcept"),
    ({"dosage": [{"doseAndRate": [{"doseQuantity": {"value": 1}}]}]}, "dosage[0].doseAndRate"),
    ({"reasonCode": [{"text": "why"}]}, "reasonCode"),
    ({"subject": {"reference": "Group/1"}}, "subject"),
    ({"effectivePeriod": {"start": "1066-10-14"}}, "effectivePeriod.start"),
    ({"derivedFrom": [{"type": "Observation", "identifier": {"system": "urn:ietf:rfc:3986",
                                                            "value": SOURCE}}]}, "derivedFrom"),
])
def test_what_cannot_be_imported_is_named(change, where):
    from services.medication.fhir.imported import statement_subject

    with pytest.raises(Invalid) as refused:
        body = parsed_statement(imported_body(uuid4(), **change))
        statement_subject(body)
        import_command(body)
    assert where in refused.value.message


def test_a_medication_without_a_name_or_ending_before_it_starts_is_refused():
    patient = uuid4()
    unnamed = {"medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "313782"}]}}
    with pytest.raises(Invalid, match="Name the medication"):
        imported(patient, **unnamed)
    with pytest.raises(Invalid, match="ends before it starts"):
        imported(patient, effectivePeriod={"start": "2020-01-02", "end": "2020-01-01"})
