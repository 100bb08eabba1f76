"""``ehr import synthea`` against the test session's PostgreSQL: five bundles in, the events in
``journal-<uuid>`` streams, a second run appends nothing, a broken file is one sentence."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, datetime

from typer.testing import CliRunner

from cli.main import app
from services.journal import contract as ev
from services.journal.fhir.from_fhir import map_bundle
from services.journal.fhir.synthea import SyntheaPolicy
from tests.conftest import count_rows
from tests.journal.test_fhir_in import DATA

runner = CliRunner()
# 76 vital signs, 235 results, 16 conditions (11 resolved), 41 immunizations, 48 contacts,
# 21 procedures, 17 diagnostic reports, 3 legevakt episodes started and ended, 3 allergies,
# 10 care plans with 3 goals, 1 death
ENTRIES = 76 + 235 + 16 + 11 + 41 + 48 + 21 + 17 + 3 + 3 + 3 + 10 + 3 + 1


def invoke(*args: str):
    # the CLI runs its own event loop; keep it off the test's loop
    return runner.invoke(app, list(args), catch_exceptions=False)


def plans():
    now = datetime.now(UTC)
    return [map_bundle(json.loads(p.read_text()), SyntheaPolicy(now))
            for p in sorted(DATA.glob("*.json"))]


async def test_import_writes_the_streams_and_a_second_run_appends_nothing(cli_env, schema,
                                                                          engine):
    first = await asyncio.to_thread(invoke, "import", "synthea", str(DATA), "--schema", schema)
    assert first.exit_code == 0, first.output
    assert (f"5 bundles: 5 patients imported, 0 already present; {ENTRIES} entries written, "
            "0 already imported") in first.output
    assert "ImagingStudy: not the municipal record's" in first.output
    assert "belongs to the medication service" in first.output

    expected = {ev.stream_of(p.patient_id) for p in plans()}
    streams = await count_rows(engine, "SELECT count(DISTINCT stream_id) FROM events "
                                       "WHERE stream_id LIKE 'journal-%'")
    assert streams == 5
    for stream in expected:
        assert await count_rows(engine, "SELECT count(*) FROM events WHERE stream_id = :s",
                                s=stream) >= 1
    total = await count_rows(engine, "SELECT count(*) FROM events")
    assert total == 5 + ENTRIES
    by_type = {t: await count_rows(engine, "SELECT count(*) FROM events WHERE type = :t", t=t)
               for t in ("journal.PatientRegistered", "journal.ObservationRecorded",
                         "journal.CriticalInfoRegistered", "journal.EpisodeStarted",
                         "journal.EpisodeEnded", "journal.PatientDeceased",
                         "journal.ObservationResultRecorded", "journal.ConditionCoded",
                         "journal.ConditionResolved", "journal.ImmunizationRecorded",
                         "journal.EncounterRecorded", "journal.ProcedureRecorded",
                         "journal.DiagnosticReportRecorded", "journal.CarePlanRecorded",
                         "journal.GoalRecorded")}
    assert by_type == {"journal.PatientRegistered": 5, "journal.ObservationRecorded": 76,
                       "journal.CriticalInfoRegistered": 3, "journal.EpisodeStarted": 3,
                       "journal.EpisodeEnded": 3, "journal.PatientDeceased": 1,
                       "journal.ObservationResultRecorded": 235, "journal.ConditionCoded": 16,
                       "journal.ConditionResolved": 11, "journal.ImmunizationRecorded": 41,
                       "journal.EncounterRecorded": 48, "journal.ProcedureRecorded": 21,
                       "journal.DiagnosticReportRecorded": 17, "journal.CarePlanRecorded": 10,
                       "journal.GoalRecorded": 3}
    actors = await count_rows(engine, "SELECT count(*) FROM events WHERE "
                                      "envelope->'actor'->>'id' = 'import:synthea'")
    assert actors == total

    second = await asyncio.to_thread(invoke, "import", "synthea", str(DATA), "--schema", schema)
    assert second.exit_code == 0, second.output
    assert (f"5 bundles: 0 patients imported, 5 already present; 0 entries written, "
            f"{ENTRIES} already imported") in second.output
    assert await count_rows(engine, "SELECT count(*) FROM events") == total

    # no national id (synthetic, here) and no US identifier in what the command printed
    for plan in plans():
        for number in (plan.registration.national_id, *plan.alternatives):
            assert number not in first.output and number not in second.output
    assert "999-" not in first.output


async def test_limit_imports_the_first_bundles_only(cli_env, schema, engine):
    res = await asyncio.to_thread(invoke, "import", "synthea", str(DATA), "--limit", "2",
                                  "--schema", schema)
    assert res.exit_code == 0, res.output
    assert "2 bundles: 2 patients imported" in res.output
    assert await count_rows(engine, "SELECT count(DISTINCT stream_id) FROM events") == 2


async def test_a_broken_bundle_stops_the_import_before_anything_is_written(cli_env, schema,
                                                                         engine, tmp_path):
    shutil.copy(next(DATA.glob("*.json")), tmp_path / "a-good.json")
    (tmp_path / "b-broken.json").write_text('{"resourceType": "Bundle", "entry": [')
    res = await asyncio.to_thread(invoke, "import", "synthea", str(tmp_path), "--schema", schema)
    assert res.exit_code == 1
    assert "b-broken.json is not valid JSON (line 1, column" in res.output
    assert "Traceback" not in res.output
    assert await count_rows(engine, "SELECT count(*) FROM events") == 0

    (tmp_path / "b-broken.json").write_text('{"resourceType": "Bundle", "entry": []}')
    res = await asyncio.to_thread(invoke, "import", "synthea", str(tmp_path), "--schema", schema)
    assert res.exit_code == 1
    assert "b-broken.json: This is not a valid FHIR R4 Bundle: type:" in res.output

    (tmp_path / "b-broken.json").unlink()
    empty = tmp_path / "empty"
    empty.mkdir()
    res = await asyncio.to_thread(invoke, "import", "synthea", str(empty), "--schema", schema)
    assert res.exit_code == 1 and "holds no *.json bundles" in res.output
