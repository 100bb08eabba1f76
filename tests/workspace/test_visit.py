"""Doing the visit in Chromium on the real stack: vital signs, a dose given, a task completed,
a visit note signed, each a command to the owning service with the version the nurse saw; the
API's checks shown readably; a stale version shows what changed and lets the nurse decide; the
common path in a stated number of taps."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.support.browser import browser, checked  # noqa: F401  (the fixture)
from tests.medication.conftest import ALBYL
from tests.workspace.conftest import NAME, Round
from tests.workspace.pages import sign_in

TAPS = 8   # README, "Clinician workspace": the common path with one morning dose


class Taps:
    """Counts what a finger does: a tap on a control (a field is one tap, then typing)."""

    def __init__(self, page: Page):
        self.page, self.count = page, 0

    async def tap(self, locator) -> None:
        self.count += 1
        await locator.click()

    async def type(self, locator, text: str) -> None:
        await self.tap(locator)
        await locator.fill(text)


async def test_the_common_visit_path_in_at_most_the_stated_taps(day: Round, browser):  # noqa: F811
    page = await browser.new_page()
    await sign_in(page, day.url)
    taps = Taps(page)
    await taps.tap(page.get_by_role("link", name=f"Åpne {NAME}"))
    await taps.type(page.get_by_label("Puls (/min)"), "84")
    await taps.type(page.get_by_label("Blodtrykk, systolisk (mmHg)"), "132")
    await taps.type(page.get_by_label("Blodtrykk, diastolisk (mmHg)"), "81")
    await taps.tap(page.get_by_role("button", name="Lagre"))
    await expect(page.locator("figure.chart").first).to_contain_text("Puls: 84")
    await expect(page.locator("figure.chart")).to_have_count(3)
    await taps.tap(page.get_by_role("button", name="Gitt Paracet"))
    await expect(page.locator(".doses")).to_contain_text("Gitt")
    await taps.type(page.get_by_label("Besøksnotat"), "Blodtrykk og puls fine. Tok Paracet.")
    await taps.tap(page.get_by_role("button", name="Signer notatet"))
    await expect(page.locator(".notes li").first).to_contain_text("Tok Paracet")
    assert taps.count <= TAPS, taps.count
    await checked(page, "after-visit")

    # every command was the nurse's, in the owning services
    r = await day.c.medication.get(f"/patients/{day.patient_id}/medication-list/chart",
                                   headers=day.c.nurse())
    [line] = r.json()["lines"]
    assert (line["outcome"], line["by"]["id"]) == ("given", "9144889")
    r = await day.c.journal.get(f"/patients/{day.patient_id}", headers=day.c.nurse())
    assert {o["code"]: o["value"] for o in r.json()["latest_vital_signs"]} == {
        "8867-4": 84, "8480-6": 132, "8462-4": 81}


async def test_checks_tasks_and_a_stale_version(day: Round, browser):  # noqa: F811
    page = await browser.new_page()
    await sign_in(page, day.url)
    await page.goto(f"{day.url}/patients/{day.patient_id}")
    # the journal's plausibility check, shown as it answered; nothing saved
    await page.get_by_label("Puls (/min)").fill("400")
    await page.get_by_role("button", name="Lagre").click()
    await expect(page.get_by_role("alert")).to_contain_text("outside the plausible range")
    await checked(page, "vitals-refused")
    # a reason is needed for a dose not given
    await page.get_by_role("button", name="Registrer").click()
    await expect(page.get_by_role("alert")).to_contain_text("Skriv en årsak")
    # complete the visit task
    await page.get_by_label("Notat til oppgaven").fill("Medisiner gitt.")
    await page.get_by_role("button", name="Fullfør: Morgenbesøk: medisiner").click()
    await expect(page.locator(".tasks")).to_contain_text("Ingen åpne oppgaver")

    # another nurse writes to the record while this page is open
    await page.get_by_label("Besøksnotat").fill("Mitt notat.")
    r = await day.c.journal.post(f"/patients/{day.patient_id}/notes?sign=true",
                                 headers=day.c.nurse("1234560"),
                                 json={"kind": "nursing", "text": "Kollegas notat."})
    assert r.status_code == 201, r.text
    await page.get_by_role("button", name="Signer notatet").click()
    await expect(page.get_by_role("heading", name="Journalen er endret")).to_be_visible()
    await expect(page.locator(".changes")).to_contain_text("Note signed")
    await checked(page, "conflict")
    await page.get_by_role("button", name="Lagre mitt likevel").click()
    notes = page.locator(".notes")
    await expect(notes).to_contain_text("Mitt notat.")
    await expect(notes).to_contain_text("Kollegas notat.")

    # the physician changes the medication list while the nurse stands at the door
    await day.ward.prescribe(day.patient_id, ALBYL, indication="Sekundærprofylakse")
    await page.get_by_role("button", name="Gitt Paracet").click()
    await expect(page.get_by_role("heading", name="Journalen er endret")).to_be_visible()
    await expect(page.locator(".changes")).to_contain_text("Albyl-E")
    await page.get_by_role("button", name="Lagre mitt likevel").click()
    await expect(page.locator(".doses li").filter(has_text="Paracet")).to_contain_text("Gitt")
    r = await day.c.medication.get(f"/patients/{day.patient_id}/medication-list/chart",
                                   headers=day.c.nurse())
    assert [line["outcome"] for line in r.json()["lines"]
            if line["entry_id"] == day.ids["paracet"]] == ["given"]
