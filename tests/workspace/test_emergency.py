"""Emergency access, deliberately, in Chromium on the real stack: a clinician without need to
know is refused (saying nothing about the patient), asks for emergency access with a basis and
a reason, reads the record (with the note the patient locked shown as withheld by the
patient), and the unit leader finds the review items (the refused attempt and the emergency
access)."""

from __future__ import annotations

from playwright.async_api import expect

from tests.journal.conftest import LEGEVAKT, LEGEVAKT_ORG
from tests.support.browser import browser, checked  # noqa: F401  (the fixture)
from tests.support.waiting import passes
from tests.workspace.conftest import NAME, Round
from tests.workspace.pages import sign_in


async def test_emergency_access_is_a_deliberate_dialog_and_a_review_item(day: Round,
                                                                          browser):  # noqa: F811
    await day.lock(day.ids["note"])
    page = await browser.new_page()
    await sign_in(page, day.url, "Lege Legevakt")
    await page.goto(f"{day.url}/patients/{day.patient_id}")
    await expect(page.get_by_role("heading", name="Ingen tilgang")).to_be_visible()
    await expect(page.get_by_role("main")).not_to_contain_text(NAME)
    await checked(page, "refused")
    await page.get_by_role("link", name="Be om nødtilgang").click()
    await expect(page.get_by_role("heading", name="Nødtilgang (akuttilgang)")).to_be_visible()
    await checked(page, "emergency-dialog")
    await page.get_by_label("Grunnlag").select_option("necessity")
    await page.get_by_label("Begrunnelse").fill("Funnet bevisstløs, ringt inn av hjemmetjenesten")
    await page.get_by_label("Jeg forstår at tilgangen logges").check()
    await page.get_by_role("button", name="Åpne journalen med nødtilgang").click()
    await expect(page.get_by_role("heading", level=1, name=NAME)).to_be_visible()
    await expect(page.locator(".cave")).to_contain_text("Penicillin")
    notes = page.locator(".notes")
    await expect(notes).to_contain_text("Tilbakeholdt av pasienten")
    await expect(notes).not_to_contain_text("Rolig natt")
    await checked(page, "withheld")

    async def reviewed() -> None:
        r = await day.c.consent.get("/reviews", headers=day.c.leader(LEGEVAKT, LEGEVAKT_ORG))
        assert r.status_code == 200, r.text
        items = {i["kind"]: i for i in r.json() if i["patient_id"] == day.patient_id}
        # the refused attempt before it is a review item as well
        assert set(items) == {"emergency_access", "access_without_care_relation"}, items
        assert "bevisstløs" in str(items["emergency_access"]["summary"])
    await passes(reviewed)
