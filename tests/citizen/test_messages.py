"""Messages with the care team (requirement 52) in Chromium on real Kafka, PostgreSQL and SMTP:
with consent level Basis the page explains how to get Full and the journal refuses a message;
Kari chooses Full, writes to her home-care unit, the message lands on the unit's worklist as a
task, a nurse's reply shows on her page, and the "new message" e-mail arrives once. A message
being written when the session ends is kept over the sign-in and sent afterwards."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import text

from libs.kernel.time import local_day
from services.journal.domain.working_days import working_days_after
from tests.citizen.test_notifications import with_mail
from tests.citizen.test_portal import sign_in
from tests.journal.conftest import HOME_CARE
from tests.support.browser import checked, chromium
from tests.support.waiting import eventually, passes

NEW_MESSAGE = "Ny melding fra behandleren din"


@pytest.fixture
async def mailed_portal(database_url, kafka_bootstrap, unique, make_topics, tmp_path):
    async with with_mail(database_url, kafka_bootstrap, unique, make_topics, tmp_path,
                         serve=True) as m:
        yield m


async def _write(page: Page, subject: str, body: str) -> None:
    await page.get_by_label("Emne").fill(subject)
    await page.get_by_label("Melding", exact=True).fill(body)


async def test_a_message_is_sent_with_full_and_refused_with_basis(mailed_portal, tmp_path):
    portal, inbox = mailed_portal
    c = portal.c
    kari, pid = await portal.kari()
    me = c.citizen(pid)
    r = await portal.api.put(f"/patients/{kari}/contact", headers=me,
                             json={"email": "kari@example.no"})
    assert r.status_code == 200, r.text

    # Basis: the journal refuses, with a message that says what to do
    r = await c.journal.post(f"/patients/{kari}/care-team/messages", headers=me, json={
        "message_id": "0190f0a0-0000-7000-8000-0000000000b1", "unit": HOME_CARE,
        "subject": "Spørsmål", "text": "Hei"})
    assert r.status_code == 403 and "samtykkenivå Full" in r.text, r.text

    async with chromium(tmp_path / "profile") as browser:
        page = await browser.new_page()
        await sign_in(page, portal, pid)
        await page.goto(portal.url + "/messages")
        await expect(page.get_by_role("heading", level=1,
                                      name="Meldinger med behandlerne mine")).to_be_visible()
        await expect(page.get_by_text("Du har samtykkenivå Basis")).to_be_visible()
        assert await page.locator("#message-form").count() == 0
        await checked(page, "messages-basis")

        await page.get_by_role("button", name="Velg samtykkenivå Full").click()
        await expect(page.locator("#message-form")).to_be_visible()
        await page.get_by_label("Til").select_option(label="Hjemmetjenesten sone sentrum")
        await _write(page, "Besøkstid", "Kan dere komme før ni i morgen?")
        await page.get_by_role("button", name="Send").click()
        await expect(page.get_by_role("status")).to_have_text("Meldingen er sendt.")
        await expect(page.locator("article.card")).to_contain_text(
            "Kan dere komme før ni i morgen?")
        await checked(page, "messages-sent")

        # the unit's worklist has it as a task, due in two working days
        due = local_day(working_days_after(datetime.now(UTC), 2))

        async def on_the_worklist() -> dict:
            r = await c.journal.get("/worklist", headers=c.nurse(),
                                    params={"unit": HOME_CARE, "day": due.isoformat()})
            assert r.status_code == 200, r.text
            tasks = [t for t in r.json()["tasks"] if t["kind"] == "message_reply"]
            assert [t["title"] for t in tasks] == ["Melding fra pasient: Besøkstid"], tasks
            return tasks[0]
        await passes(on_the_worklist, timeout_s=30)

        # the nurse replies; the reply shows on Kari's page and the task is done
        r = await c.journal.get(f"/patients/{kari}/care-team/messages", headers=c.nurse())
        [message] = r.json()["messages"]
        r = await c.journal.post(
            f"/patients/{kari}/care-team/messages/{message['message_id']}/replies",
            headers=c.nurse(), json={"text": "Ja, vi kommer kl. 08.30."})
        assert r.status_code == 201, r.text
        replied_token = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}

        async def replied() -> None:
            await page.goto(portal.url + "/messages")
            await expect(page.locator("article.card")).to_contain_text(
                "Ja, vi kommer kl. 08.30.", timeout=1000)
        await passes(replied, timeout_s=30)
        await expect(page.locator("article.card")).to_contain_text("Nina Sykepleier")
        await checked(page, "messages-replied")
        r = await c.journal.get("/worklist", headers=c.nurse() | replied_token,
                                params={"unit": HOME_CARE, "day": due.isoformat()})
        assert [t for t in r.json()["tasks"] if t["kind"] == "message_reply"] == []

        # the e-mail arrives once, and names nothing of the message
        [mail] = await eventually(lambda: [m for m in inbox.to("kari@example.no")
                                           if m["Subject"] == NEW_MESSAGE], timeout_s=30)
        assert "/messages" in mail.get_content() and "08.30" not in mail.get_content()
        assert await portal.app.state.notifier.send_pending() == 0
        assert [m["Subject"] for m in inbox.to("kari@example.no")] == [NEW_MESSAGE]

        # back to Basis: the form goes, and the journal refuses again
        await page.get_by_role("button", name="Gå tilbake til samtykkenivå Basis").click()
        await expect(page.get_by_text("Du har samtykkenivå Basis")).to_be_visible()
        assert await page.locator("#message-form").count() == 0


async def test_a_message_being_written_survives_an_expired_session(mailed_portal, tmp_path):
    portal, _ = mailed_portal
    c = portal.c
    kari, pid = await portal.kari()
    r = await c.consent.put(f"/patients/{kari}/consent-level", headers=c.citizen(pid),
                            json={"level": "full"})
    assert r.status_code == 200, r.text
    async with chromium(tmp_path / "profile") as browser:
        page = await browser.new_page()
        await sign_in(page, portal, pid)
        await page.goto(portal.url + "/messages?consistency_token="
                        + r.headers["X-Consistency-Token"])
        await _write(page, "Resept", "Jeg trenger ny resept på Paracet før helgen.")

        # the session ends while Kari writes (idle too long)
        async with portal.app.state.engine.begin() as conn:
            await conn.execute(text("UPDATE citizen_sessions SET idle_until = "
                                    "now() - interval '1 minute'"))
        await page.get_by_role("button", name="Send").click()
        await expect(page.get_by_role("heading", name="Velg testperson")).to_be_visible()
        await page.get_by_label("Syntetisk fødselsnummer (11 siffer)").fill(pid)
        await page.get_by_role("button", name="Logg inn").click()

        await expect(page.get_by_role("heading", level=1,
                                      name="Meldinger med behandlerne mine")).to_be_visible()
        await expect(page.get_by_role("status")).to_contain_text("Vi tok vare på meldingen")
        await expect(page.get_by_label("Emne")).to_have_value("Resept")
        await expect(page.get_by_label("Melding", exact=True)).to_have_value(
            "Jeg trenger ny resept på Paracet før helgen.")
        await checked(page, "messages-draft-kept")
        await page.get_by_role("button", name="Send").click()
        await expect(page.get_by_role("status")).to_have_text("Meldingen er sendt.")
        await expect(page.locator("article.card")).to_contain_text("ny resept på Paracet")

        # the draft was taken once: reloading shows an empty form
        await page.goto(portal.url + "/messages")
        await expect(page.get_by_label("Emne")).to_have_value("")

    # a forged form (no session's CSRF token) keeps nothing over a sign-in
    r = await portal.api.post("/messages", data={"csrf": "forged", "message_id": "x",
                                                 "subject": "s", "text": "t"},
                              follow_redirects=False)
    assert r.status_code == 303 and "set-cookie" not in r.headers
