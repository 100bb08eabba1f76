"""The citizen API on the real stack: a citizen reads what is shared with them from the citizen
service's own read models (journal, medication list, access log, choices), each read is logged
as the citizen, and anyone else's record, by any id, answers like an id that does not exist."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from services.citizen.domain.record import week_of
from tests.citizen.conftest import Portal
from tests.journal.conftest import HOME_CARE
from tests.medication.conftest import PARACET, dose
from tests.support.waiting import passes

PATHS = ("record", "medicines", "visits", "access-log", "choices", "contact")


async def test_a_citizen_reads_record_medicines_and_who_looked(portal: Portal):
    c, api = portal.c, portal.api
    kari, pid = await portal.kari()
    me = c.citizen(pid)
    note = await portal.signed_note(kari, "Besøk: god dag, tok medisinene selv.")
    r = await c.journal.post(f"/patients/{kari}/observations", headers=c.nurse(),
                             json={"code": "8867-4", "value": 72})
    assert r.status_code == 201, r.text
    r = await portal.ward.prescribe(kari, PARACET, dose=dose(2, "tablett", times_per_day=3),
                                    indication="Smerter")

    async def shared() -> dict:
        r = await api.get(f"/patients/{kari}/record", headers=me)
        assert r.status_code == 200, r.text
        body = r.json()
        assert [n["note_id"] for n in body["notes"]] == [note]
        assert body["vital_signs"] and body["vital_signs"][0]["points"][-1]["value"] == 72
        return body
    body = await passes(shared)
    assert body["name"] == "Astrid Hansen"
    assert body["notes"][0]["author_name"] == "Nina Sykepleier"
    assert body["notes"][0]["unit_name"] == "Hjemmetjenesten sone sentrum"

    async def listed() -> dict:
        r = await api.get(f"/patients/{kari}/medicines", headers=me)
        assert r.status_code == 200 and r.json()["current"], r.text
        return r.json()
    meds = await passes(listed)
    assert meds["current"][0]["dose_text"] == "2 tablett 3 ganger daglig"
    assert meds["current"][0]["drug"]["name"].startswith("Paracet")
    assert meds["changes"][0]["what"] == "Forskrevet"

    # a home-care visit planned this week (Oslo), between now and the week's end
    _, week_end = week_of(datetime.now(UTC))
    due = datetime.now(UTC) + (week_end - datetime.now(UTC)) / 2
    r = await c.journal.post(f"/patients/{kari}/tasks", headers=c.nurse(), json={
        "kind": "home_care_visit", "title": "Morgenstell og medisiner", "unit": HOME_CARE,
        "assignee": "9144889", "due_at": due.isoformat()})
    assert r.status_code == 201, r.text

    async def planned() -> list:
        r = await api.get(f"/patients/{kari}/visits", headers=me)
        assert r.status_code == 200 and r.json(), r.text
        return r.json()
    [visit] = await passes(planned)
    assert visit["title"] == "Morgenstell og medisiner" and visit["status"] == "planned"
    assert visit["unit_name"] == "Hjemmetjenesten sone sentrum"
    assert visit["assignee_name"] == "Nina Sykepleier"

    # a nurse reads the journal; the entry reaches Kari's page, named from the directory
    r = await c.journal.get(f"/patients/{kari}", headers=c.nurse())
    assert r.status_code == 200

    async def seen() -> list:
        r = await api.get(f"/patients/{kari}/access-log", headers=me)
        assert r.status_code == 200
        nurse = [e for e in r.json() if e["hpr"] == "9144889"]
        # her reads, and her writes (the note, the vital sign) marked as changes
        assert {e["changed"] for e in nurse if not e["refused"]} == {True, False}, r.json()
        return nurse
    nurse = await passes(seen)
    for entry in nurse:
        assert entry["who"] == "Nina Sykepleier"
        assert entry["organisation"] == "Eksempel kommune"
        assert entry["unit"] == "Hjemmetjenesten sone sentrum"
        # refused attempts (before the care relation reached the service) are shown as such
        assert entry["basis"] == ("Ingen (avvist)" if entry["refused"] else "Behandlingsrelasjon")
    # Kari's own reads through this API are logged as her (in the access log), not shown to her
    r = await api.get(f"/patients/{kari}/access-log", headers=me)
    assert all(e["who"] != "En som handler på dine vegne" for e in r.json())
    async with portal.app.state.engine.connect() as conn:
        logged = [row[0] for row in await conn.execute(text(
            "SELECT envelope->'data' FROM events WHERE type = 'audit.AccessLogged'"))]
    assert {(e["actor_kind"], e["actor_id"], e["category"]) for e in logged} >= {
        ("citizen", kari, "record"), ("citizen", kari, "medication"),
        ("citizen", kari, "access_log"), ("citizen", kari, "tasks")}
    assert all("pid" not in e and pid not in str(e) for e in logged)
    r = await api.get(f"/patients/{kari}/access-log?lang=en", headers=me)
    assert r.json()[0]["basis"] in ("Care relation", "None (refused)")


async def test_a_practitioner_is_refused_and_a_low_login_is_refused(portal: Portal):
    c, api = portal.c, portal.api
    kari, pid = await portal.kari()
    r = await api.get(f"/patients/{kari}/record", headers=c.nurse())
    assert r.status_code == 403      # the citizen service serves citizens only
    low = c.bearer(c.issuer.mint_citizen(pid, acr="idporten-loa-substantial"))
    r = await api.get(f"/patients/{kari}/record", headers=low)
    assert r.status_code == 403 and "idporten-loa-high" in r.text
    r = await api.get(f"/patients/{kari}/record")
    assert r.status_code == 401


async def test_sign_in_starts_with_pkce_and_a_bound_cookie_and_refuses_a_stray_callback(
        portal: Portal):
    api = portal.api
    r = await api.get("/login", params={"next": "https://evil.example/"})
    assert r.status_code == 303
    to = httpx.URL(r.headers["location"])
    assert to.path == "/dev-issuer/authorize"
    assert to.params["code_challenge_method"] == "S256" and len(to.params["code_challenge"]) == 43
    assert to.params["acr_values"] == "idporten-loa-high"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("__Host-ehr-login=" + to.params["state"])
    assert all(a in cookie.lower() for a in ("secure", "httponly", "samesite=lax", "path=/"))
    # a callback for another browser's sign-in, a replay, or no state at all: refused
    for params in ({"state": to.params["state"], "code": "x"}, {"code": "x"}):
        r = await api.get("/callback", params=params)
        assert r.status_code == 400 and "Innloggingen kunne ikke" in r.text
    r = await api.get("/record")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Frecord"


async def test_guessing_ids_answers_like_a_missing_id(portal: Portal):
    """Property: for any id but her own (another patient's, a random one, her own as someone
    she acts for), Kari gets exactly the answer a missing id gets, on every path."""
    c, api = portal.c, portal.api
    kari, pid = await portal.kari()
    ola, ola_pid = await portal.ward.patient()
    await portal.until_known(ola_pid, ola)
    me = c.citizen(pid)
    missing = str(uuid.uuid4())
    baseline = {}
    for path in PATHS:
        r = await api.get(f"/patients/{missing}/{path}", headers=me)
        baseline[path] = (r.status_code, r.content)
        assert r.status_code == 403
    # Ola can read his own: his id exists and has data
    assert (await api.get(f"/patients/{ola}/record", headers=c.citizen(ola_pid))
            ).status_code == 200

    cases: list[tuple[str, str, str | None]] = []

    @settings(max_examples=40, database=None, deadline=None)
    @given(st.one_of(st.just(ola), st.uuids().map(str)), st.sampled_from(PATHS),
           st.one_of(st.none(), st.just(ola), st.uuids().map(str)))
    def draw(target: str, path: str, acting_for: str | None) -> None:
        cases.append((target, path, acting_for))
    draw()
    assert any(t == ola for t, _, _ in cases)
    for target, path, acting_for in cases:
        headers = me | ({"X-Acting-For": acting_for} if acting_for else {})
        r = await api.get(f"/patients/{target}/{path}", headers=headers)
        assert (r.status_code, r.content) == baseline[path], (target, path, acting_for)
