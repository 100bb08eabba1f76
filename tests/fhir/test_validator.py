"""The HL7 FHIR validator (HAPI's instance validator, the core of the official one; built by
``make`` from tools/fhir-validator into .cache/fhir-validator) over a harvest of everything the
services emit as FHIR on a seeded stack (``harvest.py``): 0 errors. Offline: R4 core, the
no-basis package, and our own CodeSystems; no terminology server, so a code of a system it
does not know is a warning. Warnings are reported, not failed. One JVM for the whole harvest."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.fhir.harvest import harvest, seed, seeded_record_readable
from tests.medication.conftest import Ward

ROOT = Path(__file__).resolve().parents[2]
BUILT = ROOT / ".cache" / "fhir-validator"
PACKAGES = ROOT / "tools" / "fhir-validator" / "packages"
NO_BASIS = "hl7.fhir.no.basis-2.2.3-test.tgz"
# what the seeded record must at least hold, so a harvest that lost a type fails
EMITTED = {"Patient", "EpisodeOfCare", "Observation", "Condition", "AllergyIntolerance",
           "CarePlan", "Goal", "Task", "Composition", "MedicationRequest", "MedicationStatement",
           "Consent", "AuditEvent", "CapabilityStatement", "OperationOutcome", "Bundle",
           "CodeSystem"}

pytestmark = pytest.mark.timeout(300)


def validate(folder: Path) -> dict:
    """The validator's JSON report on every resource in ``folder`` (one JVM)."""
    assert (BUILT / ".installed").exists(), "the validator is built by `make fhir-validator`"
    classpath = ":".join((str(BUILT / "lib" / "*"), str(BUILT / "target" / "classes"),
                          str(PACKAGES)))
    # a short run: the quick JIT and the serial collector halve its CPU time
    run = subprocess.run(["java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp",
                          classpath, "no.ehr.fhirvalidator.Validate", str(folder), NO_BASIS],
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


async def test_everything_the_services_emit_passes_the_hl7_validator(ward: Ward, tmp_path):
    people = await seed(ward.c)
    await seeded_record_readable(ward.c, people)
    harvested = await harvest(ward.c, people)
    assert EMITTED <= harvested.types(), EMITTED - harvested.types()
    report = await asyncio.to_thread(validate, harvested.write(tmp_path / "harvest"))

    assert len(report["resources"]) == len(harvested.bodies)
    errors = [(r["file"], i["location"], i["message"]) for r in report["resources"]
              for i in r["issues"] if i["severity"] in ("error", "fatal")]
    warnings = Counter(i["message"][:120] for r in report["resources"] for i in r["issues"]
                       if i["severity"] == "warning")
    print(f"\nvalidated {len(harvested.bodies)} bodies of types {sorted(harvested.types())}: "
          f"{report['errors']} errors, {report['warnings']} warnings")
    for message, n in warnings.most_common(15):
        print(f"  {n:4d} x warning: {message}")
    assert errors == [], "\n".join(map(str, errors[:40]))
    assert report["errors"] == 0
