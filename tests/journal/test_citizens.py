"""Citizens read their own journal, and parents their children's, by the helsenorge proxy rules:
everything for a child under 12 who lives with them; for a 12–16-year-old only the categories
parents may see (none of the journal's clinical sections); nothing once the child is 16."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from libs.access.policy import OSLO
from tests.journal.conftest import Clinic
from tests.support.waiting import passes


def _years_ago(years: int, days: int = 0) -> date:
    today = datetime.now(OSLO).date()
    return today.replace(year=today.year - years) - timedelta(days=days)


async def _child_with_a_note(clinic: Clinic, parent_id: str, born: date) -> str:
    child_id, _ = await clinic.register(born=born, name={"given": "Emil", "family": "Hansen"})
    cw = clinic.case_worker()
    await clinic.until_allowed(cw, child_id)
    r = await clinic.consent.post(f"/patients/{child_id}/guardians", headers=cw,
                                  json={"guardian": parent_id, "shares_address": True})
    assert r.status_code == 201, r.text
    r = await clinic.journal.post(f"/patients/{child_id}/notes?sign=true", headers=cw,
                                  json={"kind": "nursing", "text": "Helsesykepleier: samtale."})
    assert r.status_code == 201, r.text
    return child_id


async def test_own_record_and_a_parents_view_by_the_childs_age(clinic: Clinic):
    parent_id, parent_pid = await clinic.register(born=date(1985, 5, 15))
    cw = clinic.case_worker()
    await clinic.until_allowed(cw, parent_id)
    r = await clinic.journal.post(f"/patients/{parent_id}/notes?sign=true", headers=cw,
                                  json={"kind": "nursing", "text": "Egen journal."})
    parent = clinic.citizen(parent_pid) | {"X-Consistency-Token":
                                           r.headers["X-Consistency-Token"]}
    r = await clinic.journal.get(f"/patients/{parent_id}", headers=parent)
    assert r.status_code == 200, r.text
    assert [n["text"] for n in r.json()["newest_notes"]] == ["Egen journal."]
    r = await clinic.journal.post(f"/patients/{parent_id}/notes", headers=parent,
                                  json={"kind": "nursing", "text": "x"})
    assert r.status_code == 403        # citizens read; they do not write the journal

    young = await _child_with_a_note(clinic, parent_id, _years_ago(9))
    teen = await _child_with_a_note(clinic, parent_id, _years_ago(13))
    for child in (young, teen):
        await clinic.until_allowed(clinic.case_worker(), child)

    as_parent = clinic.citizen(parent_pid)

    async def read(child: str):
        return await clinic.journal.get(f"/patients/{child}",
                                        headers=as_parent | {"X-Acting-For": child})

    async def young_visible():
        r = await read(young)
        assert r.status_code == 200, r.text
        assert [n["text"] for n in r.json()["newest_notes"]] == ["Helsesykepleier: samtale."]
    await passes(young_visible)

    async def teen_withheld():   # the guardian fact reaches the journal a moment later
        r = await read(teen)
        assert r.status_code == 200, r.text
        notes = r.json()["newest_notes"]
        assert len(notes) == 1 and notes[0]["withheld"] and "text" not in notes[0]
    await passes(teen_withheld)
    r = await clinic.journal.get(f"/patients/{teen}/timeline",
                                 headers=as_parent | {"X-Acting-For": teen})
    assert r.status_code == 200 and r.json()["entries"][0]["withheld"]
    r = await clinic.journal.get("/fhir/DocumentReference", params={"patient": teen},
                                 headers=as_parent | {"X-Acting-For": teen})
    assert r.status_code == 403        # the notes category itself is not a parent's
