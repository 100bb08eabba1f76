"""The journal's patient decisions, pure (no I/O): registration, details, death, and the fold."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime


from services.journal.manifest import MANIFEST
from services.journal import contract as ev
from services.journal.domain import patients as d
from services.journal.contract import Name
from tests.support.refusals import refused

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
P = uuid.UUID("0190f0a0-0000-7000-8000-00000000000b")
TEST_NUMBER = "15858512066"  # Tenor test number, born 15.05.1985; digit 9 is even
REAL_FNR = "31129956715"  # the textbook number, born 31.12.1899 (individnummer 567); digit 9 odd
REAL_DNR = "71129956709"  # D-number for the same birth date
OTHER_FNR = "01025010023"  # born 01.02.1950
H_NUMBER = "15458500190"  # local help number (month + 40), born 15.05.1985
HOME = d.AddressIn(lines=["Storgata 1"], postal_code="0155", city="Oslo", municipality="0301",
                   district="030101")


def register(national_id: str = TEST_NUMBER, **kw) -> d.RegisterPatient:
    return d.RegisterPatient(**({"national_id": national_id, "name": Name(
        given="Kari", family="Nordmann"), "sex": "female", "address": HOME} | kw))


def patient(*more, national_id: str = TEST_NUMBER, production: bool = False) -> d.Patient:
    events = d.register_patient(d.Patient.unknown(P), register(national_id), NOW,
                                production=production)
    return d.fold(P, [*events, *more])


def test_register_keeps_sex_as_given_and_takes_the_birth_date_from_the_number():
    [e] = d.register_patient(d.Patient.unknown(P), register(sex="male", regular_gp="9144889"),
                             NOW, production=False)
    assert isinstance(e, ev.PatientRegistered) and e.event_type == "journal.PatientRegistered"
    assert (e.id_type, e.birth_date, e.sex) == ("synthetic", date(1985, 5, 15), "male")
    assert (e.address.municipality, e.address.lines, e.regular_gp) == ("0301", ("Storgata 1",),
                                                                        "9144889")
    [real] = d.register_patient(d.Patient.unknown(P), register(REAL_FNR, sex="female"), NOW,
                                production=True)
    assert (real.id_type, real.sex) == ("fnr", "female")  # digit 9 is odd: still female


def test_registration_refusals():
    assert "already registered" in refused(409, d.register_patient, patient(), register(), NOW,
                                           production=False)
    new = d.Patient.unknown(P)
    message = refused(422, d.register_patient, new, register(REAL_FNR), NOW, production=False)
    assert "synthetic" in message and REAL_FNR not in message
    assert "production" in refused(422, d.register_patient, new, register(), NOW,
                                   production=True)
    assert "check digit" in refused(422, d.register_patient, new, register("15858512067"), NOW,
                                    production=False)
    assert "assigner" in refused(422, d.register_patient, new, register(H_NUMBER), NOW,
                                 production=True)
    [h] = d.register_patient(new, register(H_NUMBER, assigner="Oslo legevakt"), NOW,
                             production=True)
    assert (h.id_type, h.assigner) == ("hnr", "Oslo legevakt")
    refused(422, d.register_patient, new, register(birth_date=date(1985, 5, 16)), NOW,
            production=False)
    for bad in ({"municipality": "301"}, {"municipality": "03a1"}, {"postal_code": "155"},
                {"district": "110301"}):
        message = refused(422, d.register_patient, new, register(
            address=HOME.model_copy(update=bad)), NOW, production=False)
        assert message.startswith("address.")
    assert "kommunenummer" in refused(422, d.register_patient, new, register(
        address=d.AddressIn(municipality="30")), NOW, production=False)
    refused(422, d.register_patient, new, register(regular_gp="abc"), NOW, production=False)


def test_change_details_records_only_what_changed():
    p = patient()
    [e] = d.change_details(p, d.ChangeDetails(name=Name(given="Kari", family="Hansen"),
                                              sex="female", reason="married"), NOW,
                           production=False)
    assert e.name.family == "Hansen" and e.sex is None and e.reason == "married"
    assert d.change_details(p, d.ChangeDetails(sex="female", address=HOME), NOW,
                            production=False) == []
    [gp] = d.change_details(p, d.ChangeDetails(regular_gp="9144889"), NOW, production=False)
    p = d.fold(P, [*d.register_patient(d.Patient.unknown(P), register(), NOW, production=False),
                   e, gp])
    assert (p.name.family, p.regular_gp) == ("Hansen", "9144889")
    [none] = d.change_details(p, d.ChangeDetails(no_regular_gp=True), NOW, production=False)
    assert d.evolve(p, none).regular_gp is None


def test_a_new_national_id_brings_its_birth_date():
    p = patient(national_id=REAL_DNR, production=True)
    assert p.id_type == "dnr"
    [e] = d.change_details(p, d.ChangeDetails(national_id=REAL_FNR), NOW, production=True)
    assert (e.national_id, e.id_type, e.birth_date) == (REAL_FNR, "fnr", None)  # same date
    p2 = d.evolve(p, e)
    assert (p2.national_id, p2.id_type, p2.birth_date) == (REAL_FNR, "fnr", date(1899, 12, 31))
    [other] = d.change_details(p2, d.ChangeDetails(national_id=OTHER_FNR), NOW, production=True)
    assert d.evolve(p2, other).birth_date == date(1950, 2, 1)
    assert d.change_details(p2, d.ChangeDetails(national_id=REAL_FNR), NOW,
                            production=True) == []
    refused(422, d.change_details, p, d.ChangeDetails(national_id=TEST_NUMBER), NOW,
            production=True)
    refused(422, d.change_details, p, d.ChangeDetails(birth_date=date(1999, 12, 30)), NOW,
            production=True)


def test_change_details_refusals():
    p = patient()
    assert "Nothing to change" in refused(422, d.change_details, p, d.ChangeDetails(
        reason="x"), NOW, production=False)
    refused(422, d.change_details, p, d.ChangeDetails(regular_gp="1", no_regular_gp=True), NOW,
            production=False)
    refused(422, d.change_details, p, d.ChangeDetails(assigner="x"), NOW, production=False)
    refused(422, d.change_details, p, d.ChangeDetails(address=d.AddressIn(
        municipality="12345")), NOW, production=False)
    refused(404, d.change_details, d.Patient.unknown(P), d.ChangeDetails(sex="male"), NOW,
            production=False)


def test_death_is_recorded_once_and_only_its_date_corrected():
    p = patient()
    refused(404, d.record_death, d.Patient.unknown(P), d.RecordDeath(
        deceased_on=date(2026, 11, 1)), NOW)
    refused(422, d.record_death, p, d.RecordDeath(deceased_on=date(2026, 11, 30)), NOW)
    refused(422, d.record_death, p, d.RecordDeath(deceased_on=date(1985, 5, 14)), NOW)
    [died] = d.record_death(p, d.RecordDeath(deceased_on=date(2026, 11, 20)), NOW)
    dead = d.evolve(p, died)
    assert dead.deceased_on == date(2026, 11, 20)
    assert "already recorded" in refused(409, d.record_death, dead, d.RecordDeath(
        deceased_on=date(2026, 11, 20)), NOW)
    assert "reason" in refused(422, d.record_death, dead, d.RecordDeath(
        deceased_on=date(2026, 11, 19)), NOW)
    [fix] = d.record_death(dead, d.RecordDeath(deceased_on=date(2026, 11, 19),
                                               reason="death certificate"), NOW)
    assert (fix.corrects, d.evolve(dead, fix).deceased_on) == (date(2026, 11, 20),
                                                               date(2026, 11, 19))
    message = refused(409, d.change_details, dead, d.ChangeDetails(sex="male"), NOW,
                      production=False)
    assert "died on 2026-11-20" in message


def test_folding_the_events_gives_the_state_and_never_prints_the_number():
    events = d.register_patient(d.Patient.unknown(P), register(), NOW, production=False)
    p = d.fold(P, events)
    assert p.registered and (p.birth_date, p.sex, p.address.municipality) == (
        date(1985, 5, 15), "female", "0301")
    assert TEST_NUMBER not in repr(p) and TEST_NUMBER not in str(p)
    assert d.fold(P, []) == d.Patient.unknown(P)


def test_the_national_id_is_only_in_patient_registration_events():
    journal = [c for c in MANIFEST.registry().payloads.values() if c.event_type.startswith("journal.")]
    assert {c.__name__ for c in journal} >= {"PatientRegistered", "ServiceGranted"}
    holders = {c.__name__ for c in journal if "national_id" in c.model_fields}
    assert holders == {"PatientRegistered", "PatientDetailsChanged"}
    assert all(c.topic == "journal.events" for c in journal)
    assert ev.stream_of(P) == f"journal-{P}"
