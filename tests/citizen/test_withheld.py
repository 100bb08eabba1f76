"""A note a clinician withholds from the patient (§ 5-1) leaves the citizen service's read model:
the citizen API (and so the portal's page, built from the same read) never shows it, nor that something is withheld; once the
decision is lifted it is shown again."""

from __future__ import annotations

from tests.citizen.conftest import Portal
from tests.support.waiting import passes


async def test_a_withheld_note_leaves_the_citizens_record_until_lifted(portal: Portal):
    c, api = portal.c, portal.api
    kari, pid = await portal.kari()
    me = c.citizen(pid)
    secret = await portal.signed_note(kari, "Prognosen er alvorlig.")
    plain = await portal.signed_note(kari, "Sår stelt.")

    async def notes_are(expected: set[str]) -> str:
        r = await api.get(f"/patients/{kari}/record", headers=me)
        assert r.status_code == 200, r.text
        assert {n["note_id"] for n in r.json()["notes"]} == expected
        return r.text
    await passes(lambda: notes_are({secret, plain}))

    url = f"/patients/{kari}/withheld-from-patient"
    r = await c.journal.post(url, headers=c.nurse(), json={
        "entry_id": secret, "section": "notes", "reason": "Fare for alvorlig helseskade."})
    assert r.status_code == 201, r.text
    body = await passes(lambda: notes_are({plain}))
    assert secret not in body and "Prognosen" not in body and "helseskade" not in body

    r = await c.journal.post(f"{url}/{secret}/lift", headers=c.nurse(),
                             json={"reason": "Samtale holdt."})
    assert r.status_code == 200, r.text
    await passes(lambda: notes_are({secret, plain}))
