"""Offline in Chromium on the real stack (Playwright's offline mode): the day's round and its
patient stay readable from the encrypted copy the service worker answers from, the copy holds
no readable patient data; the visit's commands made offline are queued and sent when the
network returns, each applied once (a repeat of the same idempotency key changes nothing), the
one that meets a changed medication list is shown and resolved; signing out wipes it all."""

from __future__ import annotations

import json

from playwright.async_api import expect

from tests.medication.conftest import ALBYL
from tests.support.browser import browser, checked  # noqa: F401  (the fixture)
from tests.support.waiting import passes
from tests.workspace.conftest import NAME, Round
from tests.workspace.pages import sign_in

ROWS = """() => new Promise((resolve, reject) => {
  const r = indexedDB.open("ehr-workspace", 1);
  r.onupgradeneeded = () => { r.result.createObjectStore("pages");
                              r.result.createObjectStore("keys"); };
  r.onsuccess = () => {
    const t = r.result.transaction("pages", "readonly").objectStore("pages").getAll();
    t.onsuccess = () => resolve(t.result.map(row => new TextDecoder("latin1").decode(row.data)));
    t.onerror = () => reject(t.error);
  };
  r.onerror = () => reject(r.error);
})"""


async def test_the_round_is_readable_offline_from_an_encrypted_copy_wiped_at_sign_out(
        day: Round, browser):  # noqa: F811
    page = await browser.new_page()
    await sign_in(page, day.url)
    await expect(page.get_by_role("status").filter(
        has_text="lagret kryptert for bruk uten nett")).to_be_visible()
    rows = await page.evaluate(ROWS)
    assert len(rows) == 2 and not any(NAME in row or "Penicillin" in row for row in rows)

    await browser.set_offline(True)
    try:
        await page.goto(day.url + "/worklist")
        await expect(page.locator(".offline")).to_contain_text("Uten nett")
        await expect(page.get_by_role("listitem").filter(has_text=NAME)).to_contain_text(
            "Morgenbesøk: medisiner")
        await checked(page, "worklist-offline")
        await page.get_by_role("link", name=f"Åpne {NAME}").click()
        await expect(page.locator(".offline")).to_be_visible()
        await expect(page.locator(".cave")).to_contain_text("Penicillin")
        await expect(page.locator("figure.chart")).to_contain_text("Puls: 76")
        # the visit, offline: queued
        await page.get_by_label("Puls (/min)").fill("91")
        await page.get_by_role("button", name="Lagre").click()
        await expect(page.locator("#queue-status")).to_contain_text("lagret i kø")
        await page.get_by_role("button", name="Gitt Paracet").click()

        async def both_queued() -> list[dict]:
            queue = json.loads(await page.evaluate("VAULT.get('queue')") or "[]")
            assert [q["action"].rsplit("/", 1)[-1] for q in queue] == ["vitals",
                                                                       day.ids["paracet"]]
            return queue
        queue = await passes(both_queued)
        # meanwhile the physician changes the medication list
        await day.ward.prescribe(day.patient_id, ALBYL, indication="Sekundærprofylakse")
    finally:
        await browser.set_offline(False)

    # back online: the queue is sent; the dose meets the changed list and is shown
    await expect(page.get_by_role("heading", name="Journalen er endret")).to_be_visible()
    await expect(page.locator(".changes")).to_contain_text("Albyl-E")
    await page.get_by_role("button", name="Lagre mitt likevel").click()
    await expect(page.locator(".doses li").filter(has_text="Paracet")).to_contain_text("Gitt")
    await expect(page.locator("figure.chart").first).to_contain_text("Puls: 91")
    # the pulse sent again with its key (an answer lost on the way) is not recorded twice
    again = await page.evaluate("""q => fetch(q.action, {method: "POST", redirect: "manual",
        credentials: "same-origin", headers: {"Idempotency-Key": q.key},
        body: new URLSearchParams(q.fields)}).then(r => r.type)""", queue[0])
    assert again == "opaqueredirect"
    # (the timeline is read from the event store itself: nothing still on its way)
    r = await day.c.journal.get(f"/patients/{day.patient_id}/timeline", headers=day.c.nurse())
    pulses = [e["data"]["value"] for e in r.json()["entries"]
              if e["event"] == "ObservationRecorded" and e["data"]["code"] == "8867-4"]
    assert sorted(pulses) == [72, 76, 80, 91]
    r = await day.c.medication.get(f"/patients/{day.patient_id}/medication-list/chart",
                                   headers=day.c.nurse())
    assert [line["outcome"] for line in r.json()["lines"]
            if line["entry_id"] == day.ids["paracet"]] == ["given"]

    await page.goto(day.url + "/worklist")
    await page.get_by_role("button", name="Logg ut").click()
    await expect(page.get_by_role("status")).to_contain_text("Du er logget ut")
    assert await page.evaluate(ROWS) == []
