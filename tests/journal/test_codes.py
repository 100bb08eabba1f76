"""The journal's shipped code lists: ICPC-2, ICD-10, IPLOS service codes and IPLOS assessment."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import services.journal.domain.codes as codes
from services.journal.domain.codes import lists

PACKAGE = Path(codes.__file__).resolve().parent
DATA = PACKAGE / "data"


def complete_assessment(score: int = 1) -> dict[str, int]:
    return {v.id: score for v in codes.iplos_variables()}


# --- lookups -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("system", "code", "text"),
    [
        ("ICPC-2", "T90", "Diabetes type 2"),
        ("ICPC-2", "K86", "Hypertensjon ukomplisert"),
        ("ICPC-2", "P70", "Demens"),
        ("ICD-10", "I10", "Essensiell (primær) hypertensjon"),
        ("ICD-10", "E119", "Diabetes mellitus type 2 uten kompl"),
        ("ICD-10", "F001", "Demens ved Alzheimers sykdom med sen debut"),
    ],
)
def test_known_codes_resolve_with_norwegian_text(system: str, code: str, text: str) -> None:
    found = codes.lookup(system, code)
    assert found is not None
    assert (found.code, found.text, found.system.name) == (code, text, system)


def test_shortcuts_and_fhir_coding() -> None:
    assert codes.icpc2("T90").to_coding() == {
        "system": "urn:oid:2.16.578.1.12.4.1.1.7170",
        "code": "T90",
        "display": "Diabetes type 2",
    }
    assert codes.icd10("I10").to_coding()["system"] == "urn:oid:2.16.578.1.12.4.1.1.7110"


def test_input_is_normalised_but_the_list_spelling_is_returned() -> None:
    assert codes.icd10("e11.9").code == "E119"
    assert codes.icpc2(" t90 ").code == "T90"
    # Norwegian subtypes keep their lower-case letter
    assert codes.icd10("I210A").code == "I210a"


def test_systems_resolve_by_name_key_uri_and_alias() -> None:
    for name in ("ICPC-2", "icpc2", "urn:oid:2.16.578.1.12.4.1.1.7170",
                 "http://hl7.org/fhir/sid/icpc-2"):
        assert codes.code_system(name) is codes.ICPC2
    for name in ("ICD-10", "icd10", "urn:oid:2.16.578.1.12.4.1.1.7110",
                 "http://hl7.org/fhir/sid/icd-10-no"):
        assert codes.code_system(name) is codes.ICD10


def test_list_sizes_match_the_source() -> None:
    assert len(codes.all_codes("icpc2")) == 708
    assert len(codes.all_codes("icd10")) == 19634
    assert len(codes.all_codes("iplos-service")) == 25


# --- unknown codes -------------------------------------------------------------------------


def test_unknown_code_is_none_on_lookup() -> None:
    assert codes.icpc2("T00") is None
    assert codes.icpc2("X99").text == "Kjønnsorgan sykdom IKA (K)"  # real code, despite its look
    assert codes.icd10("") is None


def test_unknown_icpc2_code_gives_a_clear_error() -> None:
    with pytest.raises(codes.UnknownCode, match=r"^ICPC-2 code 'T00' does not exist$") as err:
        codes.validate_diagnosis("ICPC-2", "T00")
    assert isinstance(err.value, ValueError)
    assert (err.value.system, err.value.code) == (codes.ICPC2, "T00")


def test_icd10_category_points_to_its_subcodes() -> None:
    # the list holds only reportable codes: E11 has subcodes, so only E110..E119 exist
    assert codes.icd10("E11") is None
    with pytest.raises(codes.UnknownCode, match=r"ICD-10 code 'E11' does not exist; .*E110–E119"):
        codes.validate_diagnosis("icd10", "E11")


def test_valid_diagnosis_is_returned() -> None:
    assert codes.validate_diagnosis("ICD-10", "I10").text == "Essensiell (primær) hypertensjon"


def test_unknown_and_non_diagnosis_systems_are_refused() -> None:
    with pytest.raises(codes.UnknownCodeSystem, match="unknown code system 'SNOMED'"):
        codes.lookup("SNOMED", "1")
    with pytest.raises(codes.UnknownCodeSystem, match="diagnosis code system"):
        codes.validate_diagnosis("iplos-service", "15")


# --- search --------------------------------------------------------------------------------


def test_search_by_text() -> None:
    found = codes.search("ICPC-2", "diabetes")
    assert {c.code for c in found} >= {"T89", "T90"}
    assert [c.code for c in codes.search("icpc2", "diabetes type 2")] == ["T90"]
    assert codes.search("icpc2", "DEMENS")[0].code == "P70"


def test_search_ranks_codes_first_and_honours_limit() -> None:
    assert codes.search("icd10", "E11.9")[0].code == "E119"
    found = codes.search("icd10", "E11", limit=3)
    assert [c.code for c in found] == ["E110", "E111", "E112"]
    assert codes.search("icd10", "diabetes", limit=0) == []
    assert codes.search("icd10", "   ") == []


def test_search_needs_every_word() -> None:
    found = codes.search("icd10", "diabetes type 2 koma")
    assert [c.code for c in found] == ["E110"]


# --- IPLOS service codes -------------------------------------------------------------------


def test_service_codes() -> None:
    assert codes.service_code("29").text.startswith("Bolig som kommunen disponerer")
    assert codes.service_code("15").text == "Helsetjenester i hjemmet"
    assert codes.service_code("99") is None
    assert codes.IPLOS_SERVICE.uri == "urn:oid:2.16.578.1.12.4.1.1.9151"


# --- IPLOS functional assessment -----------------------------------------------------------


def test_iplos_variables() -> None:
    variables = codes.iplos_variables()
    names = {v.name for v in variables}
    assert len(variables) == len({v.id for v in variables}) == 17
    assert {"Sosial deltakelse", "Av- og påkledning", "Hukommelse", "Syn", "Hørsel"} <= names
    assert set(codes.iplos_scores()) == {1, 2, 3, 4, 5, 9} == codes.ALLOWED_SCORES


@pytest.mark.parametrize("score", [1, 2, 3, 4, 5, 9])
def test_complete_assessment_is_accepted(score: int) -> None:
    assert codes.validate_iplos(complete_assessment(score)) == complete_assessment(score)


def test_missing_variables_are_reported_by_name() -> None:
    scores = complete_assessment()
    del scores["memory"], scores["dressing"]
    with pytest.raises(codes.InvalidIplosAssessment) as err:
        codes.validate_iplos(scores)
    assert isinstance(err.value, ValueError)
    assert "missing memory (Hukommelse), dressing (Av- og påkledning)" in str(err.value)


def test_all_problems_are_reported_at_once() -> None:
    scores = complete_assessment() | {"eating": 6, "toilet": 0, "vision": True, "mood": 3}
    del scores["hearing"]
    with pytest.raises(codes.InvalidIplosAssessment) as err:
        codes.validate_iplos(scores)
    message = str(err.value)
    assert len(err.value.problems) == 5
    assert message.startswith("IPLOS assessment is invalid: missing hearing (Hørsel)")
    for part in ("unknown variables 'mood'", "eating (Spise) has score 6, allowed 1–5 or 9",
                 "toilet (Toalett) has score 0", "vision (Syn) has score True"):
        assert part in message


def test_empty_assessment_lists_every_variable() -> None:
    with pytest.raises(codes.InvalidIplosAssessment) as err:
        codes.validate_iplos({})
    assert all(v.name in str(err.value) for v in codes.iplos_variables())


# --- packaging and provenance --------------------------------------------------------------


def test_loader_reads_only_package_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cold load opens files inside the package only (never ../shared or the network)."""
    opened: list[Path] = []
    real_open = io.open

    def spy(file, *args, **kwargs):
        opened.append(Path(file).resolve())
        return real_open(file, *args, **kwargs)

    for cached in (lists.read_json, lists._table, codes.iplos_variables, codes.iplos_scores):
        cached.cache_clear()
    monkeypatch.setattr(io, "open", spy)
    try:
        assert codes.icpc2("T90") and codes.icd10("I10") and codes.service_code("29")
        assert len(codes.iplos_variables()) == 17
    finally:
        monkeypatch.undo()
    assert {p.name for p in opened} >= {"icpc2.json", "icd10.json", "service_codes.json",
                                         "iplos.json"}
    assert all(p.is_relative_to(DATA) for p in opened), opened
    for source in PACKAGE.glob("*.py"):
        assert "shared" not in source.read_text(encoding="utf-8"), source


def test_data_files_have_their_source_and_licence_next_to_them() -> None:
    for folder, files in {"diagnoses": ("icpc2.json", "icd10.json"),
                          "iplos": ("iplos.json", "service_codes.json")}.items():
        source = DATA / folder / "SOURCE.md"
        assert source.is_file()
        text = source.read_text(encoding="utf-8")
        assert "Licence" in text or "licence" in text
        for name in files:
            assert (DATA / folder / name).is_file()
            assert f"`{name}`" in text, f"{source} does not describe {name}"
    diagnoses = (DATA / "diagnoses" / "SOURCE.md").read_text(encoding="utf-8")
    for needed in ("@navikt/diagnosekoder@1.2026.0", "MIT", "WONCA", "Helsedirektoratet"):
        assert needed in diagnoses
    assert "CC0" in (DATA / "iplos" / "SOURCE.md").read_text(encoding="utf-8")


def test_data_files_are_compact_and_well_formed() -> None:
    for name in ("icpc2.json", "icd10.json"):
        path = DATA / "diagnoses" / name
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert doc["count"] == len(doc["codes"])
        assert all(text and text == text.strip() for text in doc["codes"].values())
    assert (DATA / "diagnoses" / "icd10.json").stat().st_size < 1_500_000
