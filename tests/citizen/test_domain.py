"""What a citizen is shown, decided without I/O: the hold-back of new notes, the chart's
series, doses and changes in words, the access log in plain words, the directory's checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from libs.kernel.errors import Invalid
from services.citizen import directory
from services.citizen.domain import looked, record
from services.citizen.domain.medicines import change_label, dose_text

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def note(hours_ago: float | None, status: str = "signed") -> dict:
    at = (NOW - timedelta(hours=hours_ago)).isoformat() if hours_ago is not None else None
    return {"note_id": str(hours_ago), "status": status, "signed_at": at, "text": "x"}


def test_new_notes_are_held_back_and_drafts_never_shown():
    items = [note(1), note(30), note(None, "draft"), note(50)]
    assert [n["note_id"] for n in record.notes(items, NOW, timedelta(0))] == ["1", "30", "50"]
    held = record.notes(items, NOW, timedelta(hours=24))
    assert [n["note_id"] for n in held] == ["30", "50"]   # newest first, the 1-hour one waits
    assert record.notes(items, NOW, timedelta(hours=100)) == []


def test_vital_signs_become_one_series_per_code_oldest_first():
    obs = [{"code": "8867-4", "value": v, "ucum": "/min",
            "effective_at": (NOW - timedelta(hours=h)).isoformat()}
           for v, h in ((80, 1), (70, 3), (75, 2))]
    obs.append({"code": "8310-5", "value": 37.2, "ucum": "Cel", "effective_at": NOW.isoformat()})
    temp, pulse = record.series(obs)
    assert pulse.label("nb") == "Puls" and pulse.label("en") == "Heart rate"
    assert [v for _, v in pulse.points] == [70, 75, 80]
    xy = record.polyline(pulse.points, width=300, height=80, pad=6)
    assert xy[0] == (6.0, 74.0) and xy[-1] == (294.0, 6.0)   # lowest left-bottom, highest top
    assert temp.unit == "Cel" and len(temp.points) == 1


def test_visits_of_this_oslo_week():
    sunday_night = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)       # Monday 7th 00:30 in Oslo
    start, end = record.week_of(sunday_night)
    assert (start.isoformat(), end.isoformat()) == ("2026-12-07T00:00:00+01:00",
                                                    "2026-12-14T00:00:00+01:00")
    items = [{"task_id": str(i), "due_at": at, "status": "planned"} for i, at in enumerate((
        "2026-12-06T22:00:00+00:00",     # Sunday 23:00 in Oslo: last week
        "2026-12-10T08:00:00+00:00", "2026-12-08T08:00:00+00:00",
        "2026-12-13T23:30:00+00:00"))]   # Monday 14th 00:30 in Oslo: next week
    assert [v["task_id"] for v in record.visits(items, sunday_night)] == ["2", "1"]


def test_a_limited_proxy_sees_only_allowed_categories_and_nothing_hidden():
    view = {"notes": [{"note_id": "n1"}, {"note_id": "n2"}], "vital_signs": [{"code": "x"}],
            "conditions": [{"condition_id": "c1"}], "critical_info": [{"critical_id": "k1"}]}
    assert record.limited(view, (), None) == view
    assert record.limited(view, {"n2"}, None)["notes"] == [{"note_id": "n1"}]
    narrow = record.limited(view, {"k1"}, {"critical_info", "conditions"})
    assert narrow["notes"] == [] and narrow["vital_signs"] == []
    assert narrow["conditions"] == view["conditions"] and narrow["critical_info"] == []


def test_doses_and_changes_in_words():
    assert dose_text({"amount": 2, "unit": "tablett", "times_of_day": ["08:00:00", "20:00"]}) \
        == "2 tablett kl. 08:00, 20:00"
    assert dose_text({"amount": 0.5, "unit": "ml", "times_per_day": 3}) == "0,5 ml 3 ganger daglig"
    assert dose_text({"amount": 1, "unit": "tablett", "as_needed": True}, "en") \
        == "1 tablett as needed"
    assert change_label("medication.MedicationDiscontinued") == "Seponert"
    assert change_label("medication.DoseChanged", "en") == "Dose changed"


def test_the_access_log_in_plain_words_and_without_the_citizens_own_reads():
    me = "5b1e0000-0000-0000-0000-000000000001"
    nurse = {"actor_kind": "practitioner", "actor_id": "9144889", "hpr": "9144889",
             "name": "N. S.", "legal_entity": "123456785", "point_of_care": "974600978",
             "legal_basis": "care_relation", "action": "write", "outcome": "permit",
             "accessed_at": NOW.isoformat()}
    names = {"9144889": "Nina Sykepleier", "974600978": "Hjemmetjenesten"}.get
    line = looked.entry(nurse, names)
    assert line["who"] == "Nina Sykepleier" and line["unit"] == "Hjemmetjenesten"
    assert line["organisation"] == "123456785"          # not in the directory: the number
    assert line["basis"] == "Behandlingsrelasjon" and line["changed"] and not line["refused"]
    glass = looked.entry(nurse | {"emergency": True, "legal_basis": "emergency"}, names, "en")
    assert glass["basis"] == "Emergency access"
    own = {"actor_kind": "citizen", "actor_id": me}
    assert not looked.by_someone_else(own, me)
    assert looked.by_someone_else(own | {"acting_for": me}, me)
    assert looked.by_someone_else(nurse, me)


def test_the_directory_sample_loads_and_a_bad_extract_is_refused_whole():
    sample = directory.read()
    assert sample.people["9144889"] == "Nina Sykepleier"
    assert sample.units["974600978"] == ("Hjemmetjenesten sone sentrum", "123456785")
    with pytest.raises(Invalid, match="unit 2"):
        directory.parse({"personer": []}, {"enheter": [
            {"organisasjonsnummer": "974600978", "navn": "ok"},
            {"organisasjonsnummer": "974600979", "navn": "bad check digit"}]})
    with pytest.raises(Invalid, match="person 1"):
        directory.parse({"personer": [{"hprNummer": "abc", "fornavn": "A", "etternavn": "B"}]},
                        {"enheter": []})
