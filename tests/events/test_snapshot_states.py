"""A snapshot is the state's JSON, read back with its model: for the journal's and the medication
service's states, each with every event type of its stream folded in, the state read back from a
snapshot is the state itself (else a restarted service would decide on another state than the
one the events make). Pure: no database."""

from __future__ import annotations

from libs.events.streams import Snapshots
from services.journal.domain.patients import Patient
from services.medication.domain.state import MedicationList
from tests.journal.fhir_mapping_support import FULL as JOURNAL_FULL, HISTORY
from tests.medication.test_fhir_mapping import FULL as MEDICATION_FULL


def test_a_snapshot_of_a_whole_record_reads_back_as_the_same_state():
    snap = Snapshots(Patient)
    assert len(HISTORY) > 50
    assert snap.load(snap.dump(JOURNAL_FULL)) == JOURNAL_FULL
    assert JOURNAL_FULL.national_id in snap.dump(JOURNAL_FULL)   # in the database, as the events


def test_a_snapshot_of_a_whole_medication_list_reads_back_as_the_same_state():
    snap = Snapshots(MedicationList)
    assert MEDICATION_FULL.entries and MEDICATION_FULL.administrations
    assert snap.load(snap.dump(MEDICATION_FULL)) == MEDICATION_FULL


def test_the_shape_fingerprint_changes_with_the_model_or_the_revision():
    assert Snapshots(Patient).schema == Snapshots(Patient, every=5).schema
    assert Snapshots(Patient).schema != Snapshots(Patient, revision="2").schema
    assert Snapshots(Patient).schema != Snapshots(MedicationList).schema
