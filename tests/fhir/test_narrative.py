"""The generated narrative every FHIR resource is read with (dom-6): well-formed XHTML that says
what the resource is, escaped, without a national id, on every resource the journal maps, and
valid R4 with it (the fhir.resources models and the R4 rules the journal's tests check)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from libs.kernel.identifiers import IdentifierSystem
from libs.web.fhir.elements import searchset
from libs.web.fhir.narrative import narrated
from tests.journal.fhir_mapping_support import RESOURCES, valid

XHTML = "{http://www.w3.org/1999/xhtml}"


def _lines(resource: dict, status: str = "generated") -> list[str]:
    text = resource["text"]
    assert text["status"] == status
    root = ET.fromstring(text["div"])
    assert root.tag == f"{XHTML}div" and {c.tag for c in root} == {f"{XHTML}p"}
    return ["".join(p.itertext()) for p in root]


@pytest.mark.parametrize("resource", [r for _, _, r in RESOURCES],
                         ids=[f"{t}/{i}" for t, i, _ in RESOURCES])
def test_every_journal_resource_is_read_with_a_narrative_and_stays_valid(resource):
    told = narrated(resource)
    valid(told)
    lines = _lines(told)
    assert lines[0] == resource["resourceType"] and len(lines) >= 2, lines
    assert {k: v for k, v in told.items() if k != "text"} == resource    # nothing else changed


def test_a_patient_narrative_names_the_person_but_never_their_number():
    number = "03010012324"
    patient = {"resourceType": "Patient", "id": "p", "identifier": [
        {"system": IdentifierSystem.FNR, "value": number}],
        "name": [{"family": "Hansen <script>", "given": ["Astrid"]}], "birthDate": "1900-01-03"}
    lines = _lines(narrated(patient))
    assert "Astrid Hansen <script>" in lines        # escaped in the XHTML, read back as text
    assert any("1900-01-03" in x for x in lines)
    assert number not in narrated(patient)["text"]["div"]
    observation = {"resourceType": "Observation", "id": "o", "status": "final",
                   "code": {"text": f"notat {number}"}, "valueQuantity": {"value": 72,
                                                                         "unit": "/min"}}
    div = narrated(observation)["text"]["div"]
    assert number not in div and "72 /min" in div


def test_a_narrative_of_its_own_is_kept_and_a_search_page_carries_them():
    own = {"resourceType": "Observation", "id": "o", "status": "final",
           "text": {"status": "additional", "div": '<div xmlns="http://www.w3.org/1999/xhtml">'
                                                   '<p>egen</p></div>'}}
    assert narrated(own) is own
    page = searchset([{"resourceType": "Flag", "id": "f", "status": "active",
                       "code": {"text": "Fall risk"}}, own], "http://x/fhir")
    flag, kept = (e["resource"] for e in page["entry"])
    assert _lines(flag) == ["Flag", "Fall risk", "Status: active"]
    assert kept is own and _lines(kept, "additional") == ["egen"]
