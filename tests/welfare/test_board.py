"""The live alert board in Chromium on the real stack (Kafka, PostgreSQL, the faust worker in
its own process): a nurse of the home-care unit signs in through the HelseID-shaped picker;
a fall alarm a device posts appears on her open board without a reload, in its place (most
severe first, then the oldest), announced in the live region; she acknowledges it with the
keyboard only, is on her way, resolves it, and each step is an event and an access-log entry
as her; a physician of another unit sees none of the unit's alerts; axe-core finds no serious
or critical violation at 820 and 360 px; and a feed that reconnects with ``Last-Event-ID``
gets what changed while it was away, and only the alerts of people she has a care relation
with."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta
from uuid import UUID, uuid4

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from playwright.async_api import Page, expect
from sqlalchemy import text

from libs.devstack.procs import free_port
from libs.events.envelope import Actor
from libs.events.migrations import run_migrations
from libs.web.service import Options
from services.welfare import contract as ev
from services.welfare.app import create_app
from services.welfare.http import board_feed
from services.welfare.http.board import TOKEN_COOKIE
from services.welfare.settings import WelfareSettings
from tests.journal.conftest import HOME_CARE, running_clinic
from tests.registry_export.support import coordinator_ready
from tests.support.browser import checked, chromium, served, tab_to
from tests.support.waiting import passes
from tests.welfare.conftest import ALARM, Home, flag, now, spawn_worker, stop, worker_log

WAIT_S = 90
NINA = "9144889"
TABLET = {"width": 820, "height": 1180}


@pytest.fixture
async def board(database_url, kafka_bootstrap, unique, make_topics,
                tmp_path) -> AsyncIterator[tuple[Home, str]]:
    """The welfare service on a real port (``localhost``, so its ``__Host-`` cookies work over
    http in Chromium), beside the consent service and the journal."""
    async with running_clinic(database_url, kafka_bootstrap, unique, make_topics,
                              tmp_path) as clinic, AsyncExitStack() as stack:
        topics = {t: f"{t}.{unique}" for t in ("consent.events", "audit.access",
                                               "journal.events")}
        topics["welfare.events"] = await make_topics("welfare.events", 3)
        port = free_port()
        settings = WelfareSettings(
            database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap,
            environment="test", dev_key_path=tmp_path / "key.pem", relay_poll_interval_s=0.2,
            consistency_wait_s=15, welfare_public_url=f"http://localhost:{port}")
        schema = f"t_{unique}_welfare"
        await run_migrations(database_url, schema)
        app = create_app(settings, Options(schema=schema, topic_names=topics, telemetry=False))
        await stack.enter_async_context(app.router.lifespan_context(app))
        api = await stack.enter_async_context(httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://welfare"))
        url = await stack.enter_async_context(served(app, port=port, host="localhost"))
        yield Home(clinic, api, app, schema, topics), url


async def seed_alert(home: Home, patient: str, severity: int, minutes_ago: float,
                     display: str) -> str:
    """An alert recorded the way the alert rules record one (``Intake.rule_outputs``)."""
    at = now() - timedelta(minutes=minutes_ago)
    alert = ev.AlertRaised(alert_id=uuid4(), reading_id=uuid4(), system="test", code="4.13",
                           display=display, severity=severity, unit=HOME_CARE,
                           task_id=uuid4(), occurred_at=at, raised_at=at,
                           due_at=at + timedelta(minutes=30))
    assert await home.app.state.intake.rule_outputs(
        UUID(patient), alert.reading_id, [alert], Actor(kind="system", id="test"))
    return str(alert.alert_id)


async def sign_in(page: Page, url: str, who: str) -> None:
    await page.goto(url + "/board")
    await expect(page.get_by_role("heading", name="Velg testbehandler")).to_be_visible()
    await page.get_by_role("button", name=who).click()
    await expect(page.get_by_role("heading", name="Alarmtavle / Alert board")).to_be_visible()


def order(page: Page):
    return page.locator("#alerts > li").evaluate_all("els => els.map(e => e.dataset.alert)")


async def test_the_board_lives_in_the_browser(board, database_url, kafka_bootstrap, unique,
                                              tmp_path):
    home, url = board
    patient = await home.ready("alarm-b", ALARM)
    older = await seed_alert(home, patient, 3, 10, "Trygghetsalarm: knapp trykket")
    yellow = await seed_alert(home, patient, 2, 20, "Gul hendelse")
    app_id = f"welfare-board-{unique}"
    await coordinator_ready(kafka_bootstrap, app_id)
    datadir = tmp_path / "w"
    worker = spawn_worker(home, database_url, kafka_bootstrap, app_id, datadir)
    try:
        async with chromium(tmp_path / "nina", viewport=TABLET) as nina, \
                chromium(tmp_path / "other") as other:
            page = await nina.new_page()
            await sign_in(page, url, "Nina Sykepleier")
            await expect(page.locator("#alerts > li")).to_have_count(2)
            await checked(page, "board-820")

            r = await home.api.post("/ingest/Flag", headers=home.device("alarm-b"),
                                    json=flag(patient, "fall-b", code="4.1", severity=None))
            assert r.status_code == 201, r.text
            fall = page.locator("#alerts > li", has_text="Fall")
            await expect(fall).to_have_count(1, timeout=WAIT_S * 1000)   # no reload
            fall_id = await fall.get_attribute("data-alert")
            assert await order(page) == [older, fall_id, yellow]
            await expect(page.locator("#announce")).to_contain_text("Ny alarm / New alert: Fall")
            await expect(fall).to_contain_text("▲ Rød / Red")

            stranger = await other.new_page()
            await sign_in(stranger, url, "Lege Legevakt")
            await expect(stranger.get_by_text("Ingen åpne alarmer")).to_be_visible()
            assert await order(stranger) == []

            await tab_to(page, f'[data-alert="{fall_id}"] button[data-step="acknowledge"]')
            await page.keyboard.press("Enter")
            await expect(fall).to_contain_text("Kvittert / Acknowledged")
            await fall.get_by_role("button", name="På vei / On my way").click()
            await expect(fall).to_contain_text("Noen er på vei / Someone is on the way")
            await fall.get_by_role("button", name="Avslutt / Resolve").click()
            await expect(page.locator("#error")).to_contain_text("Skriv hva som ble gjort")
            await fall.get_by_label("Hva ble gjort / What was done").fill(
                "Funnet på gulvet, hjulpet opp, ingen skade.")
            await fall.get_by_role("button", name="Avslutt / Resolve").click()
            await expect(fall).to_have_count(0)
            assert await order(page) == [older, yellow]

            await page.set_viewport_size({"width": 360, "height": 740})
            await checked(page, "board-360")
            await page.get_by_role("button", name="Logg ut / Sign out").click()
            await expect(page.get_by_role("heading", name="Du er logget ut")).to_be_visible()
            await page.goto(url + "/board")   # the cookie is gone: sign in again
            await expect(page.get_by_role("heading", name="Velg testbehandler")).to_be_visible()
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- worker log ---\n{worker_log(datadir)}") from exc
    finally:
        stop(worker)
    await _steps_are_events_and_logged(home, patient, fall_id, kafka_bootstrap)


async def _steps_are_events_and_logged(home: Home, patient: str, alert_id: str,
                                       kafka_bootstrap: str) -> None:
    async with home.engine.connect() as conn:
        steps = (await conn.execute(text("""
            SELECT type, envelope->'data'->>'by' FROM events
             WHERE envelope->'data'->>'alert_id' = :a ORDER BY stream_version"""),
            {"a": alert_id})).all()
    assert [tuple(s) for s in steps] == [
        ("welfare.AlertRaised", None), ("welfare.AlertAcknowledged", NINA),
        ("welfare.AlertEnRoute", NINA), ("welfare.AlertResolved", NINA)]
    topic = home.app.state.access.logger.store.topic_names["audit.access"]
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    writes: list[dict] = []
    await consumer.start()
    try:
        async def logged() -> None:
            batch = await consumer.getmany(timeout_ms=200)
            writes.extend(e for part in batch.values() for r in part
                          if (e := json.loads(r.value)["data"])["service"] == "welfare"
                          and e["hpr"] == NINA and e["action"] != "read")
            assert len(writes) >= 4, writes
        await passes(logged, timeout_s=30)
    finally:
        await consumer.stop()
    # her legal-basis entry (``Home.cover``) and the board's three steps, each as her
    assert len(writes) == 4, writes
    assert {(w["outcome"], w["action"], w["chain"], w["point_of_care"]) for w in writes} == {
        ("permit", "write", f"welfare:{patient}", HOME_CARE)}


async def _next_message(lines) -> dict:
    event: dict = {}
    async for line in lines:
        if not line:
            if "data" in event:
                return event
            continue
        key, _, value = line.partition(": ")
        event[key] = value


async def test_a_reconnecting_feed_gets_what_it_missed(board):
    home, url = board
    patient = await home.ready("alarm-c", ALARM)
    # an alert for the unit about someone it has no care relation with: never on her board
    stranger, _ = await home.c.register()
    await seed_alert(home, stranger, 3, 60, "Brann hos en annen")
    first = await seed_alert(home, patient, 3, 5, "Brann")
    token = home.c.issuer.mint_practitioner(NINA, "123456785", HOME_CARE, ("nurse",),
                                            "Nina Sykepleier")
    cookie = {"Cookie": f"{TOKEN_COOKIE}={token}"}
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        async with http.stream("GET", "/board/feed", headers=cookie) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            seen = await _next_message(r.aiter_lines())
        ids = [a["alert_id"] for a in json.loads(seen["data"])["alerts"]]
        if ids != [first]:   # the projection may not have it yet: wait for a board with it
            async with http.stream("GET", "/board/feed",
                                   headers=cookie | {"Last-Event-ID": seen["id"]}) as r:
                seen = await _next_message(r.aiter_lines())
        assert [a["alert_id"] for a in json.loads(seen["data"])["alerts"]] == [first]
        # away: an alert comes while the browser is not connected
        missed = await seed_alert(home, patient, 3, 1, "Fall")
        async with http.stream("GET", "/board/feed",
                               headers=cookie | {"Last-Event-ID": seen["id"]}) as r:
            back = json.loads((await _next_message(r.aiter_lines()))["data"])["alerts"]
        assert [a["alert_id"] for a in back] == [first, missed]
        refused = await http.get("/board/feed")
        assert refused.status_code == 401
        await _bad_steps_are_refused(home, http, cookie, stranger, first)


async def _bad_steps_are_refused(home: Home, http: httpx.AsyncClient, cookie: dict,
                                 stranger: str, alert: str) -> None:
    """Each a 4xx OperationOutcome, and nothing written."""
    board = {"X-Requested-With": "ehr-board"}
    step = f"/board/alerts/{alert}"
    strangers = await seed_alert(home, stranger, 2, 1, "Gul hos en annen")
    answers = {
        "no sign-in": await http.post(f"{step}/acknowledge", headers=board, json={}),
        "not the board": await http.post(f"{step}/acknowledge", headers=cookie, json={}),
        "no such step": await http.post(f"{step}/delete", headers=cookie | board, json={}),
        "extra field": await http.post(f"{step}/acknowledge", headers=cookie | board,
                                       json={"by": "1234567"}),
        "note too long": await http.post(f"{step}/resolve", headers=cookie | board,
                                         json={"note": "x" * 2001}),
        "not an id": await http.post("/board/alerts/x/acknowledge", headers=cookie | board,
                                     json={}),
    }
    assert {k: r.status_code for k, r in answers.items()} == {
        "no sign-in": 401, "not the board": 403, "no such step": 422, "extra field": 422,
        "note too long": 422, "not an id": 422}

    async def known() -> None:   # the read model has the stranger's alert
        assert await board_feed.patient_of(home.engine, UUID(strangers)) == UUID(stranger)
    await passes(known)
    # someone she has no care relation with, and an alert nobody has: the same refusal
    hidden = [await http.post(f"/board/alerts/{a}/acknowledge", headers=cookie | board,
                              json={}) for a in (strangers, uuid4())]
    assert [r.status_code for r in hidden] == [403, 403]
    assert hidden[0].json() == hidden[1].json()
    answers |= dict(enumerate(hidden))
    assert {r.json()["resourceType"] for r in answers.values()} == {"OperationOutcome"}
    async with home.engine.connect() as conn:
        steps = (await conn.execute(text(
            "SELECT count(*) FROM events WHERE type LIKE 'welfare.Alert%' "
            "AND type <> 'welfare.AlertRaised'"))).scalar_one()
    assert steps == 0
