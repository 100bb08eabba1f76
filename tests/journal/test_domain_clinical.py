"""Notes, observations, conditions and critical information (CAVE), pure: every command, every
refused transition with its status and message, corrections that keep the original and the
reason (requirement 23), the Kjernejournal states (requirement 24) and the fold."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pydantic
import pytest

from services.journal.domain import clinical as c
from services.journal.domain import clinical_state as cs
from services.journal.domain import episodes as care
from services.journal import contract as ev
from services.journal.domain import patients as pt
from tests.journal.support import NOW, TODAY, registered, then
from tests.support.refusals import refused

P = uuid.UUID("0190f0a0-0000-7000-8000-00000000000d")
UNIT, BAD_ORG = "974600978", "123456784"
NURSE = c.Clinician(hpr="9144889", unit=UNIT)
OTHER_NURSE = c.Clinician(hpr="1234567", unit=UNIT)
DOCTOR = c.Clinician(hpr="7654321", unit=UNIT, physician=True)


def patient(*more: ev.EventPayload) -> pt.Patient:
    return registered(P, *more)


def died(p: pt.Patient) -> pt.Patient:
    return then(p, pt.record_death(p, pt.RecordDeath(deceased_on=TODAY), NOW))


def signed_note(p: pt.Patient, text: str = "Sår stell utført.") -> tuple[pt.Patient, uuid.UUID]:
    [d] = c.draft_note(p, c.DraftNote(kind="home_care_visit", text=text), NURSE, NOW)
    p = then(p, [d])
    return then(p, c.sign_note(p, c.SignNote(note_id=d.note_id), NURSE, NOW)), d.note_id


# --- notes -----------------------------------------------------------------------------------

def test_a_draft_is_edited_by_re_drafting_and_signed_by_its_author_or_a_physician():
    p = patient()
    [d] = c.draft_note(p, c.DraftNote(kind="nursing", text="first"), NURSE, NOW)
    assert (d.kind, d.author, d.unit, d.episode_id, d.drafted_at) == (
        "nursing", NURSE.hpr, UNIT, None, NOW)
    p = then(p, [d])
    [d2] = c.draft_note(p, c.DraftNote(kind="nursing", text="second", note_id=d.note_id),
                        NURSE, NOW + timedelta(minutes=1))
    p = then(p, [d2])
    assert len(p.notes) == 1 and p.notes[0].text == "second" and p.notes[0].status == "draft"
    assert "author" in refused(403, c.draft_note, p, c.DraftNote(
        kind="nursing", text="mine now", note_id=d.note_id), OTHER_NURSE, NOW)
    assert "signed by its author or a physician" in refused(
        403, c.sign_note, p, c.SignNote(note_id=d.note_id), OTHER_NURSE, NOW)
    assert "re-drafting" in refused(409, c.correct_note, p, c.CorrectNote(
        note_id=d.note_id, text="x", reason="typo"), NURSE, NOW)
    [s] = c.sign_note(p, c.SignNote(note_id=d.note_id), DOCTOR, NOW)
    p = then(p, [s])
    assert (p.notes[0].status, p.notes[0].signed_by) == ("signed", DOCTOR.hpr)
    assert "already signed" in refused(409, c.sign_note, p, c.SignNote(note_id=d.note_id),
                                       NURSE, NOW)
    assert "immutable" in refused(409, c.draft_note, p, c.DraftNote(
        kind="nursing", text="again", note_id=d.note_id), NURSE, NOW)


def test_note_drafts_are_validated():
    p = patient()
    refused(422, c.draft_note, p, c.DraftNote(kind="medical", text="  "), NURSE, NOW)
    assert "unit" in refused(422, c.draft_note, p, c.DraftNote(kind="medical", text="x"),
                             c.Clinician(hpr="9144889", unit=BAD_ORG), NOW)
    assert "HPR" in refused(422, c.draft_note, p, c.DraftNote(kind="medical", text="x"),
                            c.Clinician(hpr="abc", unit=UNIT), NOW)
    assert "episode" in refused(404, c.draft_note, p, c.DraftNote(
        kind="legevakt_contact", text="x", episode_id=uuid.uuid4()), NURSE, NOW)
    refused(404, c.draft_note, p, c.DraftNote(kind="medical", text="x", note_id=uuid.uuid4()),
            NURSE, NOW)
    refused(404, c.draft_note, pt.Patient.unknown(P), c.DraftNote(kind="medical", text="x"),
            NURSE, NOW)
    assert "died on" in refused(409, c.draft_note, died(p), c.DraftNote(
        kind="medical", text="x"), NURSE, NOW)
    [e] = care.start_episode(p, care.StartEpisode(kind="legevakt", unit=UNIT), NOW)
    p = then(p, [e])
    [d] = c.draft_note(p, c.DraftNote(kind="legevakt_contact", text="x",
                                      episode_id=e.episode_id), DOCTOR, NOW)
    assert then(p, [d]).notes[0].episode_id == e.episode_id


def test_a_correction_is_a_new_version_that_keeps_the_original_and_the_reason():
    p, note_id = signed_note(patient(), "BT 180/95")
    later = NOW + timedelta(hours=2)
    assert "needs a reason" in refused(422, c.correct_note, p, c.CorrectNote(
        note_id=note_id, text="BT 130/85"), DOCTOR, later)
    refused(422, c.correct_note, p, c.CorrectNote(note_id=note_id, text="BT 130/85",
                                                  reason="   "), DOCTOR, later)
    assert "does not change" in refused(422, c.correct_note, p, c.CorrectNote(
        note_id=note_id, text="BT 180/95", reason="same"), DOCTOR, later)
    assert "No such note" in refused(404, c.correct_note, p, c.CorrectNote(
        note_id=uuid.uuid4(), text="x", reason="y"), DOCTOR, later)
    [fix] = c.correct_note(p, c.CorrectNote(note_id=note_id, text="BT 130/85",
                                            reason="wrong patient's value"), DOCTOR, later)
    assert (fix.replaces_version, fix.author, fix.unit, fix.corrected_at) == (
        1, DOCTOR.hpr, UNIT, later)
    p = then(p, [fix])
    note = p.notes[0]
    assert note.text == "BT 130/85" and note.status == "signed"
    original, correction = note.versions
    assert (original.text, original.by, original.reason) == ("BT 180/95", NURSE.hpr, None)
    assert (correction.text, correction.by, correction.unit, correction.at,
            correction.reason) == ("BT 130/85", DOCTOR.hpr, UNIT, later, "wrong patient's value")
    [again] = c.correct_note(p, c.CorrectNote(note_id=note_id, text="BT 135/85",
                                              reason="misread"), NURSE, later)
    assert again.replaces_version == 2
    dead = died(p)  # the record stays correctable after death
    assert c.correct_note(dead, c.CorrectNote(note_id=note_id, text="BT 135/85",
                                              reason="misread"), NURSE, later)


# --- observations ----------------------------------------------------------------------------

def test_observations_have_a_fixed_unit_and_a_plausible_range():
    p = patient()
    [o] = c.record_observation(p, c.RecordObservation(code="8867-4", value=72), NURSE, NOW)
    assert (o.ucum, o.value, o.performer, o.unit, o.effective_at) == (
        "/min", 72, NURSE.hpr, UNIT, NOW)
    [t] = c.record_observation(p, c.RecordObservation(code="8310-5", value=38.2, ucum="Cel"),
                               NURSE, NOW)
    assert t.ucum == "Cel"
    assert "not an allowed LOINC code" in refused(422, c.record_observation, p,
                                                  c.RecordObservation(code="1234-5", value=1),
                                                  NURSE, NOW)
    assert "'Cel'" in refused(422, c.record_observation, p, c.RecordObservation(
        code="8310-5", value=100.4, ucum="[degF]"), NURSE, NOW)
    message = refused(422, c.record_observation, p, c.RecordObservation(
        code="59408-5", value=101), NURSE, NOW)
    assert "outside the plausible range 50-100" in message
    refused(422, c.record_observation, p, c.RecordObservation(code="8480-6", value=20),
            NURSE, NOW)
    refused(422, c.record_observation, p, c.RecordObservation(
        code="8867-4", value=70, effective_at=NOW + timedelta(minutes=5)), NURSE, NOW)
    refused(409, c.record_observation, died(p), c.RecordObservation(code="8867-4", value=70),
            NURSE, NOW)


def test_observations_are_corrected_or_entered_in_error_with_a_reason():
    p, made = patient(), []

    def keep(events):   # observations are folded on their own, not into the patient
        made.extend(events)
        return events

    def obs(i: uuid.UUID | None = None):
        folded = cs.fold_observations(made)
        return folded if i is None else folded.get(i)

    keep(c.record_observation(p, c.RecordObservation(
        code="29463-7", value=172, effective_at=NOW - timedelta(days=1)), NURSE, NOW))
    keep(c.record_observation(p, c.RecordObservation(code="29463-7", value=70), NURSE, NOW))
    assert then(p, made) == p       # the patient's state holds no observations
    old, new = obs().values()
    assert cs.latest_observations(obs().values())["29463-7"] == new
    refused(422, c.correct_observation, p, old, c.CorrectObservation(
        observation_id=old.observation_id, value=71.2), NURSE, NOW)
    refused(422, c.correct_observation, p, old, c.CorrectObservation(
        observation_id=old.observation_id, value=712, reason="x"), NURSE, NOW)
    missing = uuid.uuid4()
    refused(404, c.correct_observation, p, obs(missing), c.CorrectObservation(
        observation_id=missing, value=71, reason="x"), NURSE, NOW)
    refused(404, c.correct_observation, p, new, c.CorrectObservation(   # another one's id
        observation_id=old.observation_id, value=71, reason="x"), NURSE, NOW)
    keep(c.correct_observation(p, old, c.CorrectObservation(
        observation_id=old.observation_id, value=71.2, reason="decimal point"), NURSE, NOW))
    old = obs(old.observation_id)
    assert (old.status, old.value, [v.value for v in old.versions]) == (
        "amended", 71.2, [172, 71.2])
    assert old.versions[-1].reason == "decimal point"
    assert "needs a reason" in refused(422, c.mark_observation_in_error, p, new,
                                       c.ObservationInError(observation_id=new.observation_id),
                                       NURSE, NOW)
    keep(c.mark_observation_in_error(p, new, c.ObservationInError(
        observation_id=new.observation_id, reason="other patient"), NURSE, NOW))
    new = obs(new.observation_id)
    assert (new.status, new.value) == ("entered_in_error", None)
    assert new.versions[0].value == 70
    assert cs.latest_observations(obs().values())["29463-7"].observation_id == old.observation_id
    for fn, cmd in [(c.mark_observation_in_error, c.ObservationInError(
            observation_id=new.observation_id, reason="again")),
            (c.correct_observation, c.CorrectObservation(
                observation_id=new.observation_id, value=70, reason="undo"))]:
        assert "entered in error" in refused(409, fn, p, new, cmd, NURSE, NOW)


# --- conditions ------------------------------------------------------------------------------

def test_conditions_are_coded_in_icpc2_or_icd10_and_resolved_once():
    p = patient()
    [k86] = c.record_condition(p, c.RecordCondition(system="ICPC-2", code="K86",
                                                    onset=date(2020, 5, 1)), DOCTOR, NOW)
    assert (k86.system, k86.code, k86.display) == ("ICPC-2", "K86", "Hypertensjon ukomplisert")
    [i10] = c.record_condition(p, c.RecordCondition(system="icd10", code="I10"), DOCTOR, NOW)
    assert i10.system == "ICD-10"
    assert refused(422, c.record_condition, p, c.RecordCondition(
        system="ICPC-2", code="T00"), DOCTOR, NOW) == "ICPC-2 code 'T00' does not exist"
    assert "unknown diagnosis code system" in refused(422, c.record_condition, p,
                                                      c.RecordCondition(system="IPLOS service",
                                                                        code="15"), DOCTOR, NOW)
    refused(422, c.record_condition, p, c.RecordCondition(
        system="ICPC-2", code="K86", onset=TODAY + timedelta(days=1)), DOCTOR, NOW)
    p = then(p, [k86])
    assert "already an active problem" in refused(409, c.record_condition, p, c.RecordCondition(
        system="ICPC-2", code="K86"), DOCTOR, NOW)
    refused(422, c.resolve_condition, p, c.ResolveCondition(
        condition_id=k86.condition_id, resolved_on=date(2019, 1, 1)), DOCTOR, NOW)
    refused(404, c.resolve_condition, p, c.ResolveCondition(condition_id=uuid.uuid4()),
            DOCTOR, NOW)
    [done] = c.resolve_condition(p, c.ResolveCondition(condition_id=k86.condition_id,
                                                       reason="normotensive"), DOCTOR, NOW)
    assert done.resolved_on == TODAY
    p = then(p, [done])
    assert p.conditions[0].resolved_on == TODAY
    assert "already resolved" in refused(409, c.resolve_condition, p, c.ResolveCondition(
        condition_id=k86.condition_id), DOCTOR, NOW)
    assert c.record_condition(p, c.RecordCondition(system="ICPC-2", code="K86"), DOCTOR, NOW)


# --- critical information (CAVE) -------------------------------------------------------------

def cave(p: pt.Patient, **kw) -> tuple[pt.Patient, uuid.UUID]:
    cmd = c.RegisterCriticalInfo(**({"category": "drug_reaction", "substance": "penicillin",
                                     "reaction": "anaphylaxis", "severity": "severe"} | kw))
    [e] = c.register_critical_info(p, cmd, NURSE, NOW)
    return then(p, [e]), e.critical_id


def change(p: pt.Patient, critical_id: uuid.UUID, to: str, by=DOCTOR, reason=None):
    return c.change_critical_info(p, c.ChangeCriticalInfo(critical_id=critical_id, to=to,
                                                          reason=reason), by, NOW)


def test_critical_information_has_the_kjernejournal_categories_and_needs_content():
    assert set(c.CATEGORY_NO.values()) == {
        "legemiddelreaksjon", "annen allergi", "anestesikomplikasjon", "kritisk tilstand",
        "pågående behandling/implantat", "behandlingsbegrensning", "smitte"}
    p = patient()
    assert "legemiddelreaksjon: name the substance" in refused(
        422, c.register_critical_info, p, c.RegisterCriticalInfo(
            category="drug_reaction", text="rash"), NURSE, NOW)
    assert "give a substance or a text" in refused(
        422, c.register_critical_info, p, c.RegisterCriticalInfo(category="infection"),
        NURSE, NOW)
    p, _ = cave(p, category="ongoing_treatment_or_implant", substance=None, text="pacemaker")
    assert (p.critical_info[0].status, p.critical_info[0].text) == ("registered", "pacemaker")
    refused(409, c.register_critical_info, died(p), c.RegisterCriticalInfo(
        category="infection", text="MRSA"), NURSE, NOW)


def test_critical_information_moves_registered_verified_refuted_removed():
    p, cid = cave(patient())
    assert "physician" in refused(403, change, p, cid, "verified", NURSE)
    p = then(p, change(p, cid, "verified"))
    assert "verified cannot be verified" in refused(409, change, p, cid, "verified")
    assert "needs a reason" in refused(422, change, p, cid, "refuted")
    [r] = change(p, cid, "refuted", NURSE, "tolerated amoxicillin 2026")
    p = then(p, [r])
    assert "refuted cannot be refuted" in refused(409, change, p, cid, "refuted", reason="x")
    assert "refuted cannot be verified" in refused(409, change, p, cid, "verified")
    p = then(p, change(p, cid, "removed", reason="registered on the wrong patient"))
    info = p.critical_info[0]
    assert info.status == "removed"
    assert [(h.status, h.by, h.reason) for h in info.history] == [
        ("registered", NURSE.hpr, None), ("verified", DOCTOR.hpr, None),
        ("refuted", NURSE.hpr, "tolerated amoxicillin 2026"),
        ("removed", DOCTOR.hpr, "registered on the wrong patient")]
    for to in ("verified", "refuted", "removed"):
        assert "removed cannot be" in refused(409, change, p, cid, to, reason="x")
    assert "No such critical information" in refused(404, change, p, uuid.uuid4(), "verified")


# --- fold ------------------------------------------------------------------------------------

def test_folding_all_produced_events_gives_the_state_the_decisions_read():
    produced: list[ev.EventPayload] = []
    p = patient()

    def run(events):
        nonlocal p
        produced.extend(events)
        p = then(p, events)

    run(c.draft_note(p, c.DraftNote(kind="medical", text="v1"), DOCTOR, NOW))
    note_id = p.notes[0].note_id
    run(c.draft_note(p, c.DraftNote(kind="medical", text="v2", note_id=note_id), DOCTOR, NOW))
    run(c.sign_note(p, c.SignNote(note_id=note_id), DOCTOR, NOW))
    run(c.correct_note(p, c.CorrectNote(note_id=note_id, text="v3", reason="typo"), DOCTOR, NOW))
    run(c.record_observation(p, c.RecordObservation(code="8480-6", value=140), NURSE, NOW))
    run(c.record_observation(p, c.RecordObservation(code="8462-4", value=90), NURSE, NOW))
    folded = cs.fold_observations(produced)
    obs = list(folded)
    run(c.correct_observation(p, folded[obs[0]], c.CorrectObservation(
        observation_id=obs[0], value=145, reason="misread"), NURSE, NOW))
    run(c.mark_observation_in_error(p, folded[obs[1]], c.ObservationInError(
        observation_id=obs[1], reason="cuff"), NURSE, NOW))
    run(c.record_condition(p, c.RecordCondition(system="ICD-10", code="I10"), DOCTOR, NOW))
    run(c.resolve_condition(p, c.ResolveCondition(condition_id=p.conditions[0].condition_id),
                            DOCTOR, NOW))
    run(c.register_critical_info(p, c.RegisterCriticalInfo(
        category="other_allergy", substance="latex"), NURSE, NOW))
    cid = p.critical_info[0].critical_id
    run(change(p, cid, "verified"))
    run(change(p, cid, "removed", reason="wrong patient"))
    assert patient(*produced) == p
    for e in produced:  # every event survives its wire form
        assert type(e).model_validate_json(e.model_dump_json()) == e
    assert (p.notes[0].text, [v.text for v in p.notes[0].versions]) == ("v3", ["v2", "v3"])
    folded = cs.fold_observations(produced)
    assert [o.status for o in folded.values()] == ["amended", "entered_in_error"]
    assert list(cs.latest_observations(folded.values())) == ["8480-6"]
    assert [type(e).__name__ for e in produced] == [
        "NoteDrafted", "NoteDrafted", "NoteSigned", "NoteCorrected", "ObservationRecorded",
        "ObservationRecorded", "ObservationCorrected", "ObservationEnteredInError",
        "ConditionRecorded", "ConditionResolved", "CriticalInfoRegistered",
        "CriticalInfoVerified", "CriticalInfoRemoved"]
    assert all(e.topic == "journal.events" for e in produced)


def test_clinical_times_are_in_range_after_birth_and_not_in_the_future():
    """Issue 12: an observation at year 1 (or 9999), before the patient's birth (15.05.1985) or
    in the future is refused; the birth day itself is fine. So are onsets and resolutions."""
    p = patient()
    for raw in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        with pytest.raises(pydantic.ValidationError):
            c.RecordObservation(code="8867-4", value=70, effective_at=raw)
    before = datetime.fromisoformat("1985-05-14T23:00:00+02:00")
    assert "before the patient's birth" in refused(
        422, c.record_observation, p,
        c.RecordObservation(code="8867-4", value=70, effective_at=before), NURSE, NOW)
    assert "future" in refused(422, c.record_observation, p, c.RecordObservation(
        code="8867-4", value=70, effective_at=NOW + timedelta(seconds=1)), NURSE, NOW)
    birth_day = datetime.fromisoformat("1985-05-15T00:30:00+02:00")
    [o] = c.record_observation(p, c.RecordObservation(code="8867-4", value=70,
                                                      effective_at=birth_day), NURSE, NOW)
    assert o.effective_at == birth_day
    assert "birth" in refused(422, c.record_condition, p, c.RecordCondition(
        system="ICPC-2", code="K86", onset=date(1985, 5, 14)), NURSE, NOW)
    with pytest.raises(pydantic.ValidationError):
        c.RecordCondition(system="ICPC-2", code="K86", onset=date(1, 1, 1))
    assert "started_at is before the patient's birth" in refused(
        422, care.start_episode, p, care.StartEpisode(kind="home_care", unit=UNIT,
                                                      started_at=before), NOW)
