"""Acting for someone else in Chromium (requirement 51): a parent opens their 10-year-old's
record from "whose record", the banner names the child; the 16-year-old is not offered, and a
forged request for them is refused."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from playwright.async_api import expect

from libs.kernel.time import OSLO
from tests.citizen.conftest import Portal
from tests.citizen.test_portal import sign_in
from tests.support.browser import checked, chromium
from tests.support.waiting import passes


def years_ago(years: int, days: int = 0) -> date:
    today = datetime.now(OSLO).date()
    return today.replace(year=today.year - years) - timedelta(days=days)


async def _child(portal: Portal, parent: str, born: date, given: str, text: str) -> str:
    c = portal.c
    child, _ = await c.register(born=born, name={"given": given, "family": "Hansen"})
    cw = c.case_worker()
    await c.until_allowed(cw, child)
    r = await c.consent.post(f"/patients/{child}/guardians", headers=cw,
                             json={"guardian": parent, "shares_address": True})
    assert r.status_code == 201, r.text
    r = await c.journal.post(f"/patients/{child}/notes?sign=true", headers=cw,
                             json={"kind": "nursing", "text": text})
    assert r.status_code == 201, r.text
    return child


async def test_a_parent_opens_the_10_year_olds_record_not_the_16_year_olds(
        served_portal: Portal, tmp_path):
    portal, c = served_portal, served_portal.c
    parent, pid = await c.register(born=date(1985, 5, 15),
                                   name={"given": "Ingrid", "family": "Hansen"})
    young = await _child(portal, parent, years_ago(10), "Emma", "Helsestasjon: alt vel.")
    old = await _child(portal, parent, years_ago(16, 3), "Jonas", "Samtale med helsesykepleier.")
    await portal.until_known(pid, parent)
    me = c.citizen(pid)

    async def ready() -> None:
        r = await portal.api.get(f"/patients/{young}/record",
                                 headers=me | {"X-Acting-For": young})
        assert r.status_code == 200 and r.json()["notes"], r.text
    await passes(ready)
    r = await portal.api.get(f"/patients/{old}/record", headers=me | {"X-Acting-For": old})
    assert r.status_code == 403

    async with chromium(tmp_path / "profile") as browser:
        page = await browser.new_page()
        await sign_in(page, portal, pid)
        await expect(page.locator(".banner")).to_contain_text("Ingrid Hansen")
        await page.get_by_role("link", name="Hvem sin journal").click()
        await expect(page.get_by_text("Emma Hansen")).to_be_visible()
        await expect(page.get_by_text("Jonas Hansen")).to_have_count(0)
        await checked(page, "who")

        await page.get_by_role("button", name="Åpne: Emma Hansen").click()
        await expect(page.locator(".banner")).to_contain_text("Emma Hansen")
        await expect(page.get_by_text("Helsestasjon: alt vel.")).to_be_visible()
        await checked(page, "record-as-parent")

        # the 16-year-old, asked for by a forged form: refused, and the banner stays on Emma
        await page.goto(portal.url + "/who")
        csrf = await page.locator('input[name="csrf"]').first.input_value()
        r = await page.request.post(portal.url + "/who",
                                    form={"csrf": csrf, "patient_id": old})
        assert r.status == 403
        assert "16 år" in await r.text()
        await page.goto(portal.url + "/record")
        await expect(page.locator(".banner")).to_contain_text("Emma Hansen")
        await expect(page.get_by_text("Samtale med helsesykepleier.")).to_have_count(0)
