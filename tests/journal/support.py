"""Builders shared by the journal's pure domain tests."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from services.journal import contract as ev
from services.journal.domain import patients as pt
from services.journal.contract import Name

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
TODAY = date(2026, 11, 29)
TEST_NUMBER = "15858512066"   # synthetic (Tenor, month + 80), born 15.05.1985


def registered(patient_id: uuid.UUID, *more: ev.EventPayload, given: str = "Kari",
               sex: str = "female") -> pt.Patient:
    """A patient registered 900 days ago, then ``more`` events."""
    reg = pt.register_patient(pt.Patient.unknown(patient_id), pt.RegisterPatient(
        national_id=TEST_NUMBER, name=Name(given=given, family="Nordmann"), sex=sex,
        address=pt.AddressIn(municipality="0301")), NOW - timedelta(days=900), production=False)
    return pt.fold(patient_id, [*reg, *more])


def then(p: pt.Patient, events: list[ev.EventPayload]) -> pt.Patient:
    for e in events:
        p = pt.evolve(p, e)
    return p


# --- a history with every journal event type (FHIR mapping, projections) -------------------

HISTORY_UNIT = "974600978"
HISTORY_NURSE_HPR, HISTORY_DOCTOR_HPR = "9144889", "7654321"


def every_event(patient_id: uuid.UUID, national_id: str = TEST_NUMBER) -> list[ev.EventPayload]:
    """A registered patient's whole life in the record, decided by the domain itself: every
    journal event type at least once (details changed, an episode started and ended, IPLOS, a
    service granted, refused and ended, notes drafted, re-drafted, signed and corrected, vitals
    recorded, corrected and entered in error, conditions recorded and resolved, CAVE in each
    state, care plans with goals and interventions (one active, one revoked, one completed),
    tasks created, reassigned, completed with a note and cancelled, messages received (one
    refused with an error receipt) and sent with its receipt, death and its corrected date).
    Drafts, a legevakt contact and open entries remain."""
    from services.journal.domain import clinical as c
    from services.journal.domain.clinical_state import fold_observations
    from services.journal.domain import episodes as care
    from services.journal.domain import messages as msg
    from services.journal.domain import process as pr

    nurse = c.Clinician(hpr=HISTORY_NURSE_HPR, unit=HISTORY_UNIT)
    doctor = c.Clinician(hpr=HISTORY_DOCTOR_HPR, unit=HISTORY_UNIT, physician=True)
    p, out = pt.Patient.unknown(patient_id), []

    def do(decide, *args, **kw) -> list[ev.EventPayload]:
        nonlocal p
        result = decide(p, *args, **kw)
        events = result.events if isinstance(result, care.Granted) else result
        out.extend(events)
        p = then(p, events)
        return events

    do(pt.register_patient, pt.RegisterPatient(
        national_id=national_id, name=Name(given="Kari Anne", family="Nordmann"), sex="female",
        address=pt.AddressIn(lines=["Storgata 1"], postal_code="0155", city="Oslo",
                             municipality="0301", district="030102"),
        regular_gp="1234567"), NOW - timedelta(days=900), production=False)
    do(pt.change_details, pt.ChangeDetails(regular_gp="2345678", reason="byttet fastlege"),
       NOW - timedelta(days=800), production=False)
    [episode] = do(care.start_episode, care.StartEpisode(kind="home_care", unit=HISTORY_UNIT),
                   NOW - timedelta(days=30))
    [gp_episode] = do(care.start_episode, care.StartEpisode(kind="gp", unit=HISTORY_UNIT),
                      NOW - timedelta(days=30))
    do(care.assess_iplos, care.AssessIplos(scores=dict.fromkeys(care.IPLOS_VARIABLES, 3)),
       HISTORY_NURSE_HPR, NOW - timedelta(days=20))
    [applied] = do(care.apply_for_service, care.ApplyForService(service_code="15"),
                   NOW - timedelta(days=20))
    do(care.grant_service, care.GrantService(
        decision_id=applied.decision_id, from_date=TODAY - timedelta(days=10),
        scope=ev.Scope(unit="hours_per_week", amount=4.5), provider=HISTORY_UNIT),
       NOW - timedelta(days=10))
    [other] = do(care.apply_for_service, care.ApplyForService(service_code="15"),
                 NOW - timedelta(days=9))
    do(care.refuse_service, care.RefuseService(decision_id=other.decision_id,
                                               reason="dekket av vedtaket"), NOW)
    do(care.end_service, care.EndService(decision_id=applied.decision_id), NOW)

    [visit] = do(c.draft_note, c.DraftNote(kind="home_care_visit", text="Sår stelt.",
                                           episode_id=episode.episode_id), nurse, NOW)
    do(c.draft_note, c.DraftNote(kind="home_care_visit", note_id=visit.note_id,
                                 episode_id=episode.episode_id,
                                 text="Sår stelt.\nPasienten sier <ingen> smerter & sover godt."),
       nurse, NOW)
    do(c.sign_note, c.SignNote(note_id=visit.note_id), nurse, NOW)
    do(c.correct_note, c.CorrectNote(note_id=visit.note_id, text="Sår stelt på venstre legg.",
                                     reason="feil side"), nurse, NOW)
    [nursing] = do(c.draft_note, c.DraftNote(kind="nursing", text="Rolig natt."), nurse, NOW)
    do(c.sign_note, c.SignNote(note_id=nursing.note_id), doctor, NOW)
    do(c.draft_note, c.DraftNote(kind="legevakt_contact", text="Vurdert på legevakt.",
                                 episode_id=gp_episode.episode_id), doctor, NOW)
    [legevakt] = do(c.draft_note, c.DraftNote(kind="legevakt_contact", text="Fall i hjemmet."),
                    doctor, NOW)
    do(c.sign_note, c.SignNote(note_id=legevakt.note_id), doctor, NOW)
    from services.journal.domain import withheld as wh   # § 5-1: withheld, then lifted
    for note_id in (nursing.note_id, legevakt.note_id):
        do(wh.withhold, wh.WithholdFromPatient(entry_id=note_id, section="notes",
                                               reason="klart utilrådelig nå"), doctor, NOW)
    do(wh.lift, wh.LiftWithholding(entry_id=nursing.note_id, reason="samtale holdt"), doctor,
       NOW)

    [hr] = do(c.record_observation, c.RecordObservation(code="8867-4", value=72), nurse, NOW)
    def observation(i: uuid.UUID):   # folded on its own: not part of the patient's state
        return fold_observations(out)[i]

    do(c.correct_observation, observation(hr.observation_id), c.CorrectObservation(
        observation_id=hr.observation_id, value=76, reason="feil avlest"), nurse, NOW)
    [temp] = do(c.record_observation, c.RecordObservation(code="8310-5", value=37.2), nurse, NOW)
    do(c.mark_observation_in_error, observation(temp.observation_id), c.ObservationInError(
        observation_id=temp.observation_id, reason="feil pasient"), nurse, NOW)
    do(c.record_observation, c.RecordObservation(code="8480-6", value=135), nurse, NOW)

    [dm] = do(c.record_condition, c.RecordCondition(system="ICPC-2", code="T90",
                                                    onset=date(2020, 1, 1)), doctor, NOW)
    do(c.record_condition, c.RecordCondition(system="ICD-10", code="I10"), doctor, NOW)
    do(c.resolve_condition, c.ResolveCondition(condition_id=dm.condition_id,
                                               resolved_on=TODAY), doctor, NOW)
    from services.journal.domain import immunizations as im, results as rs   # issue 19
    loinc, sct = "http://loinc.org", "http://snomed.info/sct"
    do(rs.record_result, rs.RecordResult(category=("laboratory",), code=(ev.Coded(
        system=loinc, code="2093-3", display="Cholesterol"),), quantity=ev.Quantity(
        value=5.2, unit="mmol/L"), effective_at=NOW), nurse, NOW)
    do(rs.record_result, rs.RecordResult(category=("social-history",), code=(ev.Coded(
        system=loinc, code="72166-2"),), concept=(ev.Coded(system=sct, code="266919005",
        display="Never smoker"),), effective_at=NOW), nurse, NOW)
    for codings in ([ev.Coded(system=sct, code="44054006", display="Diabetes type 2")],
                    [ev.Coded(system="ICPC-2", code="K86"), ev.Coded(system=sct, code="59621000")]):
        do(rs.record_coded_condition, rs.RecordCodedCondition(codings=codings), doctor, NOW)
    from services.journal.domain import contacts as ct
    [amb] = do(ct.record_encounter, ct.RecordEncounter(class_code="AMB", type=(ev.Coded(
        system=sct, code="185349003", display="Consultation"),), started_at=NOW,
        ended_at=NOW, episode_id=gp_episode.episode_id), doctor, NOW)
    from services.journal.domain import procedures as pc
    do(pc.record_procedure, pc.RecordProcedure(code=(ev.Coded(system=sct, code="173160006"),),
                                               performed_at=NOW), doctor, NOW)
    do(pc.record_report, pc.RecordReport(code=(ev.Coded(system=loinc, code="57698-3"),),
                                         effective_at=NOW, results=(hr.observation_id,)),
       doctor, NOW)
    do(im.record_immunization, im.RecordImmunization(vaccine=(ev.Coded(
        system=im.ATC, code="J07BB02", display="Influensavaksine"),), occurred_at=NOW,
        lot_number="AB123", dose_number=1), nurse, NOW)

    [pen] = do(c.register_critical_info, c.RegisterCriticalInfo(
        category="drug_reaction", substance="Penicillin", reaction="Anafylaksi",
        severity="severe"), nurse, NOW)
    do(c.change_critical_info, c.ChangeCriticalInfo(critical_id=pen.critical_id,
                                                    to="verified"), doctor, NOW)
    [nuts] = do(c.register_critical_info, c.RegisterCriticalInfo(
        category="other_allergy", substance="Peanøtter", severity="moderate",
        text="Oppgitt av pårørende"), nurse, NOW)
    do(c.change_critical_info, c.ChangeCriticalInfo(critical_id=nuts.critical_id, to="refuted",
                                                    reason="tåler peanøtter"), doctor, NOW)
    [mrsa] = do(c.register_critical_info, c.RegisterCriticalInfo(
        category="infection", substance="MRSA", text="Bærer"), nurse, NOW)
    do(c.change_critical_info, c.ChangeCriticalInfo(critical_id=mrsa.critical_id,
                                                    to="verified"), doctor, NOW)
    do(c.change_critical_info, c.ChangeCriticalInfo(critical_id=mrsa.critical_id, to="removed",
                                                    reason="registrert på feil pasient"),
       doctor, NOW)
    do(c.register_critical_info, c.RegisterCriticalInfo(
        category="treatment_limitation", text="Ikke HLR"), doctor, NOW)

    [plan] = do(pr.create_care_plan, pr.CreateCarePlan(
        title="Sårbehandling", episode_id=episode.episode_id, period_start=TODAY,
        period_end=TODAY + timedelta(days=60)), nurse, NOW)
    plan_id = plan.care_plan_id
    [healed] = do(pr.add_goal, pr.AddGoal(care_plan_id=plan_id, description="Såret er grodd",
                                          target_date=TODAY + timedelta(days=30)), nurse, NOW)
    [walks] = do(pr.add_goal, pr.AddGoal(care_plan_id=plan_id, description="Går ute daglig"),
                 nurse, NOW)
    do(pr.add_goal, pr.AddGoal(care_plan_id=plan_id, description="Sover uten smerter"),
       nurse, NOW)
    do(pr.change_goal_status, pr.ChangeGoalStatus(care_plan_id=plan_id, goal_id=healed.goal_id,
                                                  status="achieved"), nurse, NOW)
    do(pr.change_goal_status, pr.ChangeGoalStatus(care_plan_id=plan_id, goal_id=walks.goal_id,
                                                  status="not_achieved", note="for glatt ute"),
       nurse, NOW)
    [dressing] = do(pr.add_intervention, pr.AddIntervention(
        care_plan_id=plan_id, description="Skifte bandasje", frequency="daglig 08:00",
        service_code="15"), nurse, NOW)
    [bath] = do(pr.add_intervention, pr.AddIntervention(care_plan_id=plan_id,
                                                        description="Dusjhjelp"), nurse, NOW)
    do(pr.stop_intervention, pr.StopIntervention(care_plan_id=plan_id,
                                                 intervention_id=bath.intervention_id,
                                                 reason="klarer selv"), nurse, NOW)
    [visit_task] = do(pr.create_task, pr.CreateTask(
        kind="home_care_visit", title="Skifte bandasje", unit=HISTORY_UNIT,
        due_at=NOW + timedelta(hours=20), intervention_id=dressing.intervention_id), nurse, NOW)
    do(pr.reassign_task, pr.ReassignTask(task_id=visit_task.task_id,
                                         assignee=HISTORY_NURSE_HPR), nurse, NOW)
    do(pr.complete_task, pr.CompleteTask(task_id=visit_task.task_id,
                                         text="Bandasje skiftet, såret ser fint ut."), nurse, NOW)
    [follow_up] = do(pr.create_task, pr.CreateTask(
        kind="follow_up", title="Ring fastlegen", description="om smertestillende",
        unit=HISTORY_UNIT, assignee=HISTORY_DOCTOR_HPR, due_at=NOW + timedelta(days=2)),
        nurse, NOW)
    do(pr.cancel_task, pr.CancelTask(task_id=follow_up.task_id, reason="ikke lenger aktuelt"),
       nurse, NOW)
    do(pr.create_task, pr.CreateTask(kind="other", title="Bestille hjelpemidler",
                                     unit=HISTORY_UNIT, due_at=NOW + timedelta(days=7),
                                     care_plan_id=plan_id), nurse, NOW)
    [wrong] = do(pr.create_care_plan, pr.CreateCarePlan(title="Ernæring"), nurse, NOW)
    do(pr.revoke_care_plan, pr.RevokeCarePlan(care_plan_id=wrong.care_plan_id,
                                              reason="feil pasient"), nurse, NOW)
    [done] = do(pr.create_care_plan, pr.CreateCarePlan(title="Fallforebygging"), nurse, NOW)
    do(pr.complete_care_plan, pr.CompleteCarePlan(care_plan_id=done.care_plan_id,
                                                  note="Rullator levert"), nurse, NOW)
    from services.journal.domain import recorded_plans as rp   # made in another record
    heart = ev.Coded(system=sct, code="735984001", display="Heart failure self management plan")
    [imported] = do(rp.record_care_plan, rp.RecordCarePlan(
        care_plan_id=uuid.UUID("0190f0a0-0000-7000-8000-0000000000d1"), title="Hjertesvikt",
        intent="order", category=(heart,), period_start=TODAY - timedelta(days=3),
        addresses=(dm.condition_id,), encounter_id=amb.encounter_id,
        activities=(ev.RecordedActivity(
            intervention_id=uuid.UUID("0190f0a0-0000-7000-8000-0000000000d2"),
            code=(ev.Coded(system=sct, code="183063000", display="low salt diet education"),),
            description="Saltfattig kost", status="completed"),)), doctor, NOW)
    do(rp.record_goal, rp.RecordGoal(
        care_plan_id=imported.care_plan_id, goal_id=uuid.UUID(
            "0190f0a0-0000-7000-8000-0000000000d3"), description="Bedre systolisk funksjon",
        lifecycle="accepted", achievement="in-progress", addresses=(dm.condition_id,)),
       doctor, NOW)

    hospital, gp = msg.PartyIn(her_id="8094", name="Sykehuset"), msg.PartyIn(her_id="56704")
    epikrise = dict(kind="epikrise", sender=hospital, receiver_her="80001",
                    receiver_role="legetjeneste", text="Utskrevet til hjemmet.",
                    sent_at=NOW - timedelta(hours=2))
    do(msg.receive_message, msg.ReceiveMessage(message_id="EPI-1", **epikrise), NOW,
       reply_unit=HISTORY_UNIT)
    do(msg.receive_message, msg.ReceiveMessage(   # refused: a dialogmelding has no attachments
        message_id="DM-0", kind="dialogmelding", dialog_type="notat", sender=gp,
        receiver_her="80001", receiver_role="legetjeneste", text="Se vedlegg.",
        sent_at=NOW - timedelta(hours=1), attachments=1), NOW, reply_unit=HISTORY_UNIT)
    [sent] = do(msg.send_message, msg.SendMessage(
        kind="dialogmelding", dialog_type="notat", to=gp, refers_to="EPI-1",
        subject="Etter utskrivning", text="Hjemmesykepleien følger opp sårstell."), nurse, NOW,
        sender_her="80002")
    do(msg.receive_receipt, msg.ReceiveReceipt(message_id=sent.message_id, status="ok"), NOW)
    from services.journal.domain import care_team as ct   # the patient writes, a nurse replies
    [asked, _] = do(ct.write, ct.WriteToCareTeam(
        message_id=uuid.UUID("0190f0a0-0000-7000-8000-0000000000c1"), unit=HISTORY_UNIT,
        subject="Medisiner", text="Kan dere komme før ni?"), patient_id, "full",
        {HISTORY_UNIT}, NOW)
    do(ct.reply, asked.message_id, ct.ReplyToPatient(text="Ja, vi kommer kl. 08."), nurse, NOW)

    do(care.end_episode, care.EndEpisode(episode_id=episode.episode_id), NOW)
    do(pt.record_death, pt.RecordDeath(deceased_on=TODAY - timedelta(days=1)), NOW)
    do(pt.record_death, pt.RecordDeath(deceased_on=TODAY, reason="feil dato"), NOW)
    return out
