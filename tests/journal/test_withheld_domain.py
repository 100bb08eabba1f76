"""Withholding an entry from the patient (pasient- og brukerrettighetsloven § 5-1), pure: the
decision needs a documented reason and an entry that exists, is not made twice, is lifted with
a reason, and the patient's view of the record leaves a withheld entry out while health
personnel's keeps it."""

from __future__ import annotations

import uuid

from libs.kernel.errors import Conflict, Invalid, NotFound
from services.journal import contract as ev
from services.journal.domain import clinical as c
from services.journal.domain import clinical_state as cs
from services.journal.domain import patients as pt
from services.journal.domain import withheld as wh
from tests.journal.support import NOW, registered, then
from tests.support.refusals import refused

P = uuid.UUID("0190f0a0-0000-7000-8000-0000000000a5")
DOCTOR = c.Clinician(hpr="7654321", unit="974600978", physician=True)


def two_notes() -> tuple[pt.Patient, uuid.UUID, uuid.UUID]:
    p = registered(P)
    ids = []
    for text in ("Samtale om prognose.", "Sår stelt."):
        [d] = c.draft_note(p, c.DraftNote(kind="medical", text=text), DOCTOR, NOW)
        p = then(p, [d])
        p = then(p, c.sign_note(p, c.SignNote(note_id=d.note_id), DOCTOR, NOW))
        ids.append(d.note_id)
    return p, ids[0], ids[1]


def test_a_withheld_note_is_left_out_of_the_patients_view_and_lifting_shows_it_again():
    p, secret, plain = two_notes()
    [e] = wh.withhold(p, wh.WithholdFromPatient(entry_id=secret, section="notes",
                                                reason="  Fare for alvorlig helseskade. "),
                      DOCTOR, NOW)
    assert isinstance(e, ev.EntryWithheldFromPatient)
    assert (e.entry_id, e.section, e.reason, e.by, e.unit, e.withheld_at) == (
        secret, "notes", "Fare for alvorlig helseskade.", DOCTOR.hpr, DOCTOR.unit, NOW)
    p = then(p, [e])
    assert [n.note_id for n in wh.for_patient(p).notes] == [plain]
    assert [n.note_id for n in p.notes] == [secret, plain]        # personnel still see it
    assert wh.section_of(p, secret) == "notes"

    [lifted] = wh.lift(p, wh.LiftWithholding(entry_id=secret, reason="Samtale holdt."),
                       DOCTOR, NOW)
    assert isinstance(lifted, ev.EntryWithholdingLifted) and lifted.reason == "Samtale holdt."
    p = then(p, [lifted])
    assert [n.note_id for n in wh.for_patient(p).notes] == [secret, plain]
    assert wh.section_of(p, secret) is None


def test_conditions_critical_info_and_observations_can_be_withheld():
    p = registered(P)
    [cond] = c.record_condition(p, c.RecordCondition(system="ICPC-2", code="T90"), DOCTOR, NOW)
    [cave] = c.register_critical_info(p, c.RegisterCriticalInfo(
        category="drug_reaction", substance="Penicillin"), DOCTOR, NOW)
    [obs] = c.record_observation(p, c.RecordObservation(code="8867-4", value=72), DOCTOR, NOW)
    p = then(p, [cond, cave, obs])
    o = cs.fold_observations([obs])[obs.observation_id]
    for section, entry, observation in (("conditions", cond.condition_id, None),
                                        ("critical_info", cave.critical_id, None),
                                        ("observations", obs.observation_id, o)):
        p = then(p, wh.withhold(p, wh.WithholdFromPatient(
            entry_id=entry, section=section, reason="klart utilrådelig"), DOCTOR, NOW,
            observation))
    shown = wh.for_patient(p)
    assert shown.conditions == () and shown.critical_info == ()
    assert wh.visible_observations([o], p) == []
    assert len(p.conditions) == 1 and len(p.critical_info) == 1


def test_refusals_name_what_is_wrong():
    p, secret, _ = two_notes()
    msg = refused(Invalid, wh.withhold, p, wh.WithholdFromPatient(
        entry_id=secret, section="notes", reason=" "), DOCTOR, NOW)
    assert "needs a reason" in msg
    # an id that is not in that section (or not this patient's) is simply not found
    refused(NotFound, wh.withhold, p, wh.WithholdFromPatient(
        entry_id=uuid.uuid4(), section="notes", reason="x"), DOCTOR, NOW)
    refused(NotFound, wh.withhold, p, wh.WithholdFromPatient(
        entry_id=secret, section="conditions", reason="x"), DOCTOR, NOW)
    refused(NotFound, wh.withhold, p, wh.WithholdFromPatient(
        entry_id=secret, section="observations", reason="x"), DOCTOR, NOW, None)
    refused(NotFound, wh.withhold, pt.Patient.unknown(P), wh.WithholdFromPatient(
        entry_id=secret, section="notes", reason="x"), DOCTOR, NOW)
    refused(Conflict, wh.lift, p, wh.LiftWithholding(entry_id=secret, reason="x"), DOCTOR, NOW)
    p = then(p, wh.withhold(p, wh.WithholdFromPatient(entry_id=secret, section="notes",
                                                      reason="x"), DOCTOR, NOW))
    assert "already withheld" in refused(Conflict, wh.withhold, p, wh.WithholdFromPatient(
        entry_id=secret, section="notes", reason="x"), DOCTOR, NOW)
    assert "needs a reason" in refused(Invalid, wh.lift, p, wh.LiftWithholding(
        entry_id=secret), DOCTOR, NOW)


def test_the_decisions_survive_the_read_models_json():
    p, secret, _ = two_notes()
    p = then(p, wh.withhold(p, wh.WithholdFromPatient(entry_id=secret, section="notes",
                                                      reason="x"), DOCTOR, NOW))
    assert pt.Patient.model_validate_json(p.model_dump_json()) == p
