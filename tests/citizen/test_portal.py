"""The portal in Chromium on real Kafka and PostgreSQL: Kari signs in through the development
issuer's person picker (OIDC code + PKCE), sees her medicines and her vital-signs chart, every
page passes axe-core at 360 px and is reachable by keyboard; a nurse's read appears on her page;
an entry she locks is withheld from the nurse; forms refuse a missing CSRF token; log-out ends
the session. Screenshots are kept under test-artefacts/."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.citizen.conftest import Portal
from tests.medication.conftest import PARACET, dose
from tests.support.browser import checked, chromium, screenshot, tab_to
from tests.support.waiting import passes

PAGE_BUDGET_BYTES = 60_000   # a page and everything it loads, on a phone


async def sign_in(page: Page, portal: Portal, pid: str) -> None:
    await page.goto(portal.url + "/")
    await checked(page, "landing")
    await page.get_by_role("link", name="Logg inn med ID-porten").click()
    await expect(page.get_by_role("heading", name="Velg testperson")).to_be_visible()
    await checked(page, "person-picker")
    await page.get_by_label("Syntetisk fødselsnummer (11 siffer)").fill(pid)
    await page.get_by_role("button", name="Logg inn").click()
    await expect(page.get_by_role("heading", level=1, name="Min journal")).to_be_visible()


async def _kari_with_data(portal: Portal) -> tuple[str, str, str]:
    c = portal.c
    kari, pid = await portal.kari()
    note = await portal.signed_note(kari, "Hjemmebesøk: Kari har det bra.")
    for value in (70, 84, 76):
        r = await c.journal.post(f"/patients/{kari}/observations", headers=c.nurse(),
                                 json={"code": "8867-4", "value": value})
        assert r.status_code == 201, r.text
    await portal.ward.prescribe(kari, PARACET, dose=dose(1, "tablett", times_per_day=2),
                                indication="Smerter")

    async def ready() -> None:
        me = c.citizen(pid)
        rec = (await portal.api.get(f"/patients/{kari}/record", headers=me)).json()
        assert rec["notes"] and len(rec["vital_signs"][0]["points"]) == 3
        meds = (await portal.api.get(f"/patients/{kari}/medicines", headers=me)).json()
        assert meds["current"]
    await passes(ready)
    return kari, pid, note


async def test_kari_signs_in_and_sees_her_medicines_and_chart(served_portal: Portal,
                                                              tmp_path):
    portal = served_portal
    kari, pid, _ = await _kari_with_data(portal)
    async with chromium(tmp_path / "profile") as browser:
        page = await browser.new_page()
        loaded: list[int] = []
        page.on("response", lambda r: loaded.append(int(r.headers.get("content-length", 0))
                                                    if r.ok else 0))
        await sign_in(page, portal, pid)
        banner = page.locator(".banner")
        await expect(banner).to_contain_text("Du ser journalen til")
        await expect(banner).to_contain_text("Astrid Hansen")
        chart = page.get_by_role("img", name="Puls: siste 76 /min")
        await expect(chart).to_be_visible()
        await expect(page.get_by_text("Hjemmebesøk: Kari har det bra.")).to_be_visible()
        await checked(page, "record")

        loaded.clear()
        await page.goto(portal.url + "/record")
        await page.wait_for_load_state("load")
        assert 0 < sum(loaded) <= PAGE_BUDGET_BYTES, loaded

        await tab_to(page, 'nav a[href="/medicines"]')
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("heading", level=1, name="Mine legemidler")).to_be_visible()
        row = page.locator("#medicines tbody tr").first
        await expect(row).to_contain_text("Paracet")
        await expect(row).to_contain_text("1 tablett 2 ganger daglig")
        await expect(page.get_by_text("Forskrevet")).to_be_visible()
        await checked(page, "medicines")

        for path, heading in (("/visits", "Besøk denne uken"),
                              ("/looked", "Hvem har sett journalen min"),
                              ("/choices", "Mine valg")):
            await page.goto(portal.url + path)
            await expect(page.get_by_role("heading", level=1, name=heading)).to_be_visible()
            await checked(page, path.strip("/"))

        # the English switch, remembered
        await page.get_by_role("link", name="English").click()
        await expect(page.get_by_role("heading", level=1, name="My choices")).to_be_visible()
        await page.goto(portal.url + "/medicines")
        await expect(page.get_by_role("heading", level=1, name="My medicines")).to_be_visible()
        await expect(page.locator("#medicines")).to_contain_text("1 tablett 2 times a day")
        await checked(page, "medicines-en")

        # a form without the session's CSRF token changes nothing
        r = await page.request.post(portal.url + "/choices/blocks",
                                    form={"hpr": "7654321", "csrf": "forged"})
        assert r.status == 403
        me = portal.c.citizen(pid)
        assert (await portal.api.get(f"/patients/{kari}/choices", headers=me)
                ).json()["blocks"] == []
        # a bad HPR number is refused with a readable message
        await page.goto(portal.url + "/choices?lang=nb")
        await page.get_by_label("HPR-nummer til helsepersonellet").fill("12x")
        await page.get_by_role("button", name="Reserver meg mot dette helsepersonellet").click()
        await expect(page.get_by_role("alert")).to_have_text("Et HPR-nummer har 1 til 9 siffer.")
        await checked(page, "choices-refused")

        # where notices go: kept by the citizen service; which ones: the consent service
        await page.get_by_label("E-postadresse for varsler").fill("kari@example.no")
        await page.get_by_label("Varsle meg når noen åpner noe jeg har sperret").check()
        await page.get_by_role("button", name="Lagre").click()
        await expect(page.get_by_role("status")).to_have_text("Lagret.")
        await expect(page.get_by_label("Varsle meg når noen åpner noe jeg har sperret")
                     ).to_be_checked()
        assert (await portal.api.get(f"/patients/{kari}/contact", headers=me)).json() == {
            "email": "kari@example.no", "opted_out": False}
        await checked(page, "choices-notifications")

        # log-out ends the session: the record asks for sign-in again
        await page.get_by_role("button", name="Logg ut").click()
        await expect(page.get_by_text("Du er logget ut.")).to_be_visible()
        await page.goto(portal.url + "/record")
        await expect(page.get_by_role("heading", name="Velg testperson")).to_be_visible()


async def test_a_nurses_read_appears_and_a_locked_entry_is_withheld(served_portal: Portal,
                                                                     tmp_path):
    portal = served_portal
    c = portal.c
    kari, pid, note = await _kari_with_data(portal)
    async with chromium(tmp_path / "profile") as browser:
        page = await browser.new_page()
        await sign_in(page, portal, pid)

        # the nurse reads Kari's record; the entry appears on "who looked"
        r = await c.journal.get(f"/patients/{kari}/notes", headers=c.nurse())
        assert r.status_code == 200
        assert any(n.get("text") == "Hjemmebesøk: Kari har det bra." for n in r.json()["notes"])

        async def appears() -> None:
            await page.goto(portal.url + "/looked")
            rows = page.locator("#looked tbody tr", has_text="Nina Sykepleier")
            assert await rows.count() > 0
            text = await rows.first.inner_text()
            assert "Hjemmetjenesten sone sentrum" in text and "Behandlingsrelasjon" in text
        await passes(appears, timeout_s=30)
        await checked(page, "looked-with-nurse")

        # Kari locks the note from her record, and asks to be told if it is opened
        await page.goto(portal.url + "/record")
        card = page.locator(f"#note-{note}")
        await card.get_by_label("Varsle meg hvis noen åpner det").check()
        await card.get_by_role("button", name="Sperr dette notatet").click()
        await expect(page.get_by_role("status")).to_have_text("Lagret.")
        await expect(page.locator(f"#note-{note}")).to_contain_text(
            "Sperret for helsepersonell")
        await checked(page, "record-locked")

        # the nurse is now refused the note's text
        async def withheld() -> None:
            r = await c.journal.get(f"/patients/{kari}/notes", headers=c.nurse())
            assert r.status_code == 200
            [entry] = [n for n in r.json()["notes"] if n.get("note_id") == note
                       or n.get("id") == note or note in str(n)]
            assert "Hjemmebesøk" not in str(entry), entry
        await passes(withheld, timeout_s=30)

        # and it is listed under "my choices", where one click lifts it
        await page.goto(portal.url + "/choices")
        await expect(page.locator("#h-locks + ul")).to_contain_text("Hjemmebesøk")
        await screenshot(page, "choices-with-lock")
