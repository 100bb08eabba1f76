"""A citizen chooses consent level full (helsenorge's samtykkenivå) with their own token, and goes
back to basis; choosing the level one has writes nothing; health personnel cannot choose it for
them, and bad input is a readable 422."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from libs.access import facts
from libs.access import events as ev
from services.consent.domain import commands as c
from services.consent.domain import decisions as d
from tests.consent.conftest import Consent

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def test_the_level_is_basis_until_chosen_and_a_repeat_changes_nothing():
    f = facts.fold(uuid.uuid4(), [])
    assert f.consent_level == "basis"
    assert d.choose_consent_level(f, c.ChooseConsentLevel(level="basis"), NOW) == []
    [e] = d.choose_consent_level(f, c.ChooseConsentLevel(level="full"), NOW)
    assert isinstance(e, ev.ConsentLevelChosen) and e.level == "full"
    f = facts.evolve(f, e)
    assert f.consent_level == "full"
    assert d.choose_consent_level(f, c.ChooseConsentLevel(level="full"), NOW) == []
    [back] = d.choose_consent_level(f, c.ChooseConsentLevel(level="basis"), NOW)
    assert facts.evolve(f, back).consent_level == "basis"


async def test_a_citizen_chooses_full_and_withdraws_it_with_their_own_token(consent: Consent):
    patient_id, pid = await consent.register(date(1970, 4, 4))
    me, url = consent.citizen(pid), f"/patients/{patient_id}/consent-level"

    r = await consent.client.put(url, headers=me, json={"level": "everything"})
    assert r.status_code == 422 and r.json()["resourceType"] == "OperationOutcome", r.text
    r = await consent.client.put(url, headers=consent.nurse(), json={"level": "full"})
    assert r.status_code == 403, r.text

    async def level(token: str) -> str:
        r = await consent.client.get(f"/patients/{patient_id}/privacy",
                                     headers=me | {"X-Consistency-Token": token})
        assert r.status_code == 200, r.text
        return r.json()["consent_level"]

    r = await consent.client.put(url, headers=me, json={"level": "full"})
    assert r.status_code == 200 and r.json()["level"] == "full", r.text
    assert await level(r.headers["X-Consistency-Token"]) == "full"
    r = await consent.client.put(url, headers=me, json={"level": "full"})
    assert r.status_code == 200 and "X-Consistency-Token" not in r.headers   # nothing written
    r = await consent.client.put(url, headers=me, json={"level": "basis"})
    assert r.status_code == 200, r.text
    assert await level(r.headers["X-Consistency-Token"]) == "basis"
