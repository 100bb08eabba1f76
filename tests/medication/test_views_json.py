"""The current list is stored as text and sent as it is (``views.to_json``): written by orjson,
it must be the text the stdlib's ``json.dumps`` wrote before, so a list stored before the change
and one stored after read the same to a client (and the API's computed answer after
``current_until`` matches the stored one)."""

from __future__ import annotations

import json
from datetime import timedelta

from services.medication import views
from services.medication.domain import medication_list as ml
from tests.medication.domain_support import (
    CATALOGUE, DOCTOR, LATER, NOW, TODAY, dose, given, prescribed, then,
)


def _stdlib(doc: dict) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def test_the_current_list_is_written_as_the_stdlib_wrote_it():
    lst, _ = prescribed(product_id="marevan", d=dose(2.5, "mg", "18:00"),
                        indication="Atrieflimmer, høy risiko for slag")
    lst, _ = prescribed(lst, product_id="duphalac", d=dose(15, "ml", "08:00"))
    lst, later = prescribed(lst, product_id="levaxin", d=dose(0.5, "tablett", "07:00"),
                            start_on=TODAY + timedelta(days=3))
    lst = lst.model_copy(update={"version": 3})
    for now in (NOW, NOW + timedelta(days=4)):
        view = views.current_view(lst, now)
        text = views.to_json(view)
        assert text == _stdlib(view)
        assert "høy risiko" in text   # not escaped: the same bytes as before
        assert len(json.loads(text)["entries"]) == 3
    # a later start is on the list before it starts (started false), and started after
    started = {now: {e["entry_id"]: e["started"]
                     for e in json.loads(views.to_json(views.current_view(lst, now)))["entries"]}
               for now in (NOW, NOW + timedelta(days=4))}
    assert started[NOW][str(later.entry_id)] is False
    assert started[NOW + timedelta(days=4)][str(later.entry_id)] is True
    assert '"started":false' in views.to_json(views.current_view(lst, NOW))


def test_an_entry_given_is_written_as_the_stdlib_wrote_it():
    lst, entry = prescribed(d=dose(1.5, "tablett", "08:00", "20:00"))
    lst = then(lst, given(lst, entry))
    view = views.current_view(lst, NOW + timedelta(hours=10))
    assert view["entries"][0]["last_given_at"] == LATER.isoformat()
    assert views.to_json(view) == _stdlib(view)


def test_entry_views_kept_by_entry_are_those_of_every_version_of_the_list():
    """An entry's fields are made once per entry object (``views._fields``): along a history
    where each version shares its unchanged entries with the one before, every current list
    is what a deep copy (all new objects, every view made afresh) gives, as text."""
    lst, marevan = prescribed(product_id="marevan", d=dose(2.5, "mg", "18:00"))
    versions = [lst]
    lst, paracet = prescribed(lst, d=dose(1, "tablett", "08:00", "20:00"))
    versions.append(lst)
    lst = then(lst, given(lst, paracet))
    versions.append(lst)
    lst = then(lst, ml.pause(lst, ml.Pause(entry_id=marevan.entry_id, reason="Skal opereres"),
                             DOCTOR, NOW + timedelta(hours=11)))
    versions.append(lst)
    lst = then(lst, ml.change_dose(lst, ml.ChangeDose(entry_id=paracet.entry_id,
                                                      dose=dose(2, "tablett", "08:00")),
                                   DOCTOR, NOW + timedelta(hours=12), catalogue=CATALOGUE))
    versions.append(lst)
    # a dose given changes another entry: Marevan's is the same object, its fields kept
    assert versions[2].entry(marevan.entry_id) is versions[1].entry(marevan.entry_id)
    for now in (NOW + timedelta(hours=13), NOW + timedelta(days=3)):
        for v in versions:
            kept = views.to_json(views.current_view(v, now))
            assert kept == views.to_json(views.current_view(v.model_copy(deep=True), now))
    paused = json.loads(views.to_json(views.current_view(versions[3], NOW + timedelta(hours=13))))
    assert [e["status"] for e in paused["entries"]] == ["active", "paused"]
