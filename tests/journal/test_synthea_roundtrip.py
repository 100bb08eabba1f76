"""Issue 19, "the Synthea import round-trips type by type": ``ehr import synthea`` over the five
bundled Synthea patients into a running journal (real PostgreSQL and Kafka), then each patient's
record read back through the journal's FHIR search, per resource type: the count its bundle
holds. Billing and directory resources, and the clinical types the journal does not import yet,
are counted and explained in the import's summary."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from datetime import UTC, datetime

from services.journal.fhir.from_fhir import map_bundle
from services.journal.fhir.plan import BP_PANELS, LOINC
from services.journal.fhir.synthea import SyntheaPolicy
from tests.journal.conftest import HOME_CARE, running_clinic
from tests.journal.test_fhir_in import DATA
from tests.journal.test_import_synthea import invoke
from tests.support.outbox import outbox_to_test_topic
from tests.support.waiting import passes

READ_BACK = ("Patient", "Observation", "Condition", "Immunization", "AllergyIntolerance",
             "Encounter", "Procedure", "DiagnosticReport", "CarePlan", "Goal")
NOT_YET = ("MedicationRequest", "ImagingStudy")


def bundles() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DATA.glob("*.json"))}


def resources(bundle: dict, rtype: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def panels(bundle: dict) -> int:
    """Blood pressure panels: each is read back as two Observations (systolic, diastolic)."""
    return sum(1 for r in resources(bundle, "Observation") for c in r["code"]["coding"]
               if c["system"] == LOINC and c["code"] in BP_PANELS)


def row(output: str, label: str) -> tuple[int, int, str]:
    """(in the bundles, in the journal, the rest and why) of the summary's row for a type."""
    found = re.search(rf"^  {re.escape(label)}: (\d+) in the bundles, (\d+) in the journal"
                      r"(.*)$", output, re.MULTILINE)
    assert found, f"no row for {label} in\n{output}"
    return int(found[1]), int(found[2]), found[3]


async def total(clinic, headers: dict, rtype: str, patient_id: str, **params) -> int:
    query = {"patient": patient_id, "_count": 1} | params
    r = await clinic.journal.get(f"/fhir/{rtype}", params=query, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["total"]


async def imported(database_url: str, unique: str, make_topics):
    """``ehr import synthea`` into the journal's schema of the clinic about to start; its outbox
    then names this test's own topic (as ``EventStore.topic_names`` does for a running service;
    the command writes the catalogue's names)."""
    schema = f"t_{unique}_journal"
    res = await asyncio.to_thread(invoke, "import", "synthea", str(DATA), "--schema", schema)
    assert res.exit_code == 0, res.output
    await outbox_to_test_topic(database_url, schema, make_topics)
    return res


async def test_the_synthea_import_reads_back_type_by_type(cli_env, database_url, kafka_bootstrap,
                                                          unique, make_topics, tmp_path):
    data = bundles()
    every = Counter(r["resource"]["resourceType"] for b in data.values() for r in b["entry"])
    res = await imported(database_url, unique, make_topics)
    async with running_clinic(database_url, kafka_bootstrap, unique, make_topics,
                              tmp_path) as clinic:
        await summary_and_read_back(clinic, res.output, data, every)


async def summary_and_read_back(clinic, out: str, data: dict, every: Counter) -> None:
    # the summary: every clinical type the journal keeps, all of it
    for rtype in READ_BACK:
        assert row(out, rtype)[:2] == (every[rtype], every[rtype]), rtype
    # billing and directory resources: counted and explained, never imported
    for rtype, kind in (("Claim", "billing"), ("ExplanationOfBenefit", "billing"),
                        ("Organization", "directory"), ("Practitioner", "directory")):
        n, held, why = row(out, f"{rtype} ({kind})")
        assert (n, held) == (every[rtype], 0), rtype
        assert f"{rtype}: not" in why, (rtype, why)
    # clinical types not reached yet: listed with the reason, not hidden
    for rtype in NOT_YET:
        n, held, why = row(out, rtype)
        assert (n, held) == (every[rtype], 0) and f"{rtype}:" in why, (rtype, why)

    # read back through FHIR, per patient and type, once the projection has the whole import
    now = datetime.now(UTC)
    nurse = clinic.nurse()
    for name, bundle in data.items():
        pid = str(map_bundle(bundle, SyntheaPolicy(now)).patient_id)
        r = await clinic.assign(pid, HOME_CARE)   # the unit leader assigns the relation
        assert r.status_code == 201, r.text
        await clinic.until_allowed(nurse, pid, timeout=60)
        expected = {t: len(resources(bundle, t)) for t in READ_BACK}
        expected["Observation"] += panels(bundle)
        heights = sum(1 for r in resources(bundle, "Observation")
                      if r["code"]["coding"][0]["code"] == "8302-2")

        async def read_back() -> None:
            got = {t: await total(clinic, nurse, t, pid) for t in READ_BACK}
            assert got == expected, name
        await passes(read_back, timeout_s=60)
        labs = sum(1 for r in resources(bundle, "Observation") for cat in r["category"]
                   for c in cat["coding"] if c["code"] == "laboratory")
        assert await total(clinic, nurse, "Observation", pid,
                           code=f"{LOINC}|8302-2") == heights
        assert await total(clinic, nurse, "Observation", pid, category="laboratory") == labs
        assert await total(clinic, nurse, "Observation", pid, category="laboratory",
                           code=f"{LOINC}|8302-2") == 0   # body height is a vital sign
        assert await total(clinic, nurse, "Observation", pid, category="vital-signs",
                           code=f"{LOINC}|8302-2") == heights
        await care_plans_as_imported(clinic, nurse, pid, bundle)


def _codes(concept: dict) -> list[tuple[str, str]]:
    return [(c["system"], c["code"]) for c in concept.get("coding", [])]


async def _read(clinic, headers: dict, reference: str) -> dict:
    r = await clinic.journal.get(f"/fhir/{reference}", headers=headers)
    assert r.status_code == 200, (reference, r.text)
    return r.json()


async def care_plans_as_imported(clinic, nurse: dict, pid: str, bundle: dict) -> None:
    """Each CarePlan reads back as it was imported: status, intent, category, period start,
    its activities' SNOMED codes and statuses, the Conditions it addresses (each readable, with
    the code the bundle gave) and its Goals (each readable on its own, as the bundle gave it)."""
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    r = await clinic.journal.get("/fhir/CarePlan", params={"patient": pid, "_count": 50},
                                 headers=nurse)
    assert r.status_code == 200, r.text
    read = {(_codes(x["category"][0])[0], x["period"]["start"]): x
            for x in (e["resource"] for e in r.json().get("entry", []))}
    sources = resources(bundle, "CarePlan")
    assert len(read) == len(sources)
    for src in sources:
        got = read[(_codes(src["category"][0])[0], src["period"]["start"][:10])]
        assert (got["status"], got["intent"]) == (src["status"], src["intent"])
        assert [(_codes(a["detail"]["code"]), a["detail"]["status"]) for a in got["activity"]] == [
            (_codes(a["detail"]["code"]), a["detail"]["status"]) for a in src["activity"]]
        addressed = [by_url[a["reference"]] for a in src.get("addresses", [])]
        conditions = [await _read(clinic, nurse, a["reference"])
                      for a in got.get("addresses", [])]
        assert len(conditions) == len(addressed)
        for condition, source in zip(conditions, addressed):
            assert set(_codes(condition["code"])) >= set(_codes(source["code"]))
        goals = [await _read(clinic, nurse, g["reference"]) for g in got.get("goal", [])]
        assert sorted((g["description"]["text"], g["lifecycleStatus"]) for g in goals) == sorted(
            (by_url[g["reference"]]["description"]["text"],
             by_url[g["reference"]]["lifecycleStatus"]) for g in src.get("goal", []))
