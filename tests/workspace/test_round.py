"""Signing in, today's worklist and the patient at the door, in Chromium on the real stack, by
keyboard only: the pages read the journal and the medication service as the nurse (the reads
are theirs in the patient's access log), CAVE comes first, the visit is done with the Tab and
Enter keys, every screen passes axe at 360 px and on a tablet, and signing out leaves no
cookie behind."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.support.browser import browser, checked, tab_to  # noqa: F401  (the fixture)
from tests.workspace.conftest import NAME, Round

TABLET = {"width": 820, "height": 1180}


async def both_sizes(page: Page, name: str) -> None:
    await checked(page, name)
    phone = page.viewport_size
    await page.set_viewport_size(TABLET)
    await checked(page, f"{name}-tablet")
    await page.set_viewport_size(phone)


async def keys(page: Page, selector: str, text: str | None = None) -> None:
    """Tab to a control, then type into it or press Enter on it."""
    await page.evaluate("() => document.activeElement && document.activeElement.blur()")
    await tab_to(page, selector)
    if text is None:
        await page.keyboard.press("Enter")
    else:
        await page.keyboard.type(text)


async def test_sign_in_round_patient_and_visit_by_keyboard(day: Round, browser):  # noqa: F811
    page = await browser.new_page()
    await page.goto(day.url + "/")
    await both_sizes(page, "landing")
    await keys(page, "a.button[href='/login']")
    await expect(page.get_by_role("heading", name="Velg testbehandler")).to_be_visible()
    await keys(page, "ul li:first-child button[type=submit]")   # Nina Sykepleier
    await expect(page.get_by_role("heading", name="Dagens arbeidsliste")).to_be_visible()
    visit = page.get_by_role("listitem").filter(has_text=NAME)
    await expect(visit).to_contain_text("Morgenbesøk: medisiner")
    await expect(visit).to_contain_text("Storgata 1, 0155 Oslo")
    await expect(visit).to_contain_text("Forsinket")
    await both_sizes(page, "worklist")

    await keys(page, f"a[href='/patients/{day.patient_id}']")
    await expect(page.get_by_role("heading", level=1, name=NAME)).to_be_visible()
    headings = await page.get_by_role("heading", level=2).all_inner_texts()
    assert headings[0] == "CAVE – kritisk informasjon", headings
    await expect(page.locator(".cave")).to_contain_text("Penicillin")
    await expect(page.locator(".doses")).to_contain_text("Paracet")
    await expect(page.locator(".doses")).to_contain_text("Ikke registrert")
    await expect(page.locator("figure.chart")).to_contain_text("Puls: 76")
    assert await page.locator("figure.chart circle").count() == 3
    await expect(page.locator(".notes")).to_contain_text("Rolig natt")
    await expect(page.get_by_text("Medisinhjelp morgen – daglig")).to_be_visible()
    await both_sizes(page, "patient")

    # the visit, by keyboard only
    await keys(page, "#v-pulse", "88")
    await keys(page, "#v-systolic", "128")
    await keys(page, "#v-diastolic", "79")
    await keys(page, "form.vitals button[type=submit]")
    await expect(page.locator("figure.chart").first).to_contain_text("Puls: 88")
    await keys(page, "button[value=given]")
    await expect(page.locator(".doses")).to_contain_text("Gitt")
    await keys(page, "#note-text", "Besøk gjort med tastatur.")
    await keys(page, "form.note button[type=submit]")
    await expect(page.locator(".notes li").first).to_contain_text("gjort med tastatur")

    # the reads were the nurse's: the patient sees them in the access log
    r = await day.c.consent.get(f"/patients/{day.patient_id}/access-log",
                                headers=day.c.citizen(day.national_id))
    assert r.status_code == 200, r.text
    assert "9144889" in r.text

    await keys(page, "header form.logout button")
    await expect(page.get_by_role("status")).to_contain_text("Du er logget ut")
    assert not [c for c in await browser.cookies() if c["name"].startswith("__Host-ehr")]
    await page.goto(day.url + "/worklist")
    await expect(page.get_by_role("heading", name="Velg testbehandler")).to_be_visible()
