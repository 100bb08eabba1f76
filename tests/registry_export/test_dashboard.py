"""The analysts' dashboard in Chromium on real Kafka and PostgreSQL: synthetic events go to
``journal.events``, the faust worker in the API process folds them, and the page shows the
year's users by service group and month by month, with small numbers suppressed and marked,
in bokmål and in English, with no serious or critical axe-core violation at 360 px, every
control reachable by keyboard and nothing loaded from anywhere but the service."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.async_api import expect

from tests.registry_export.support import (
    api_topics, municipality, produce, registry_api, replay, until_folded,
)
from tests.support.browser import checked, chromium, served

TODAY = datetime(2026, 1, 5, 12, tzinfo=UTC)   # 2025 is over: every month end counts
WAIT_S = 90


async def test_the_dashboard_shows_the_year_by_group_and_month_with_suppressed_cells_marked(
        database_url, kafka_bootstrap, sources, make_topics, unique, tmp_path):
    events = municipality(60, 2025, seed=11, others=("1103",))
    people = replay(events)
    topics = await api_topics(sources, make_topics, unique)
    app, _ = registry_api(database_url, kafka_bootstrap, topics, unique, tmp_path, TODAY)
    await produce(kafka_bootstrap, sources["journal.events"], events)
    async with app.router.lifespan_context(app), served(app) as url:
        await until_folded(app, people, WAIT_S)   # the whole fold, before the page is looked at

        async with chromium(tmp_path / "profile") as browser:
            page = await browser.new_page()
            requested: list[str] = []
            page.on("request", lambda r: requested.append(r.url))
            await page.goto(url + "/dashboard?year=2025")
            await expect(page.get_by_role("heading", level=1,
                                          name="Brukere av omsorgstjenester")).to_be_visible()
            await expect(page.locator("html")).to_have_attribute("lang", "nb")
            await expect(page.get_by_text("Publiserte tall for kommune 0301, 2025.")
                         ).to_be_visible()
            by_group = page.get_by_role("img", name="Brukere i løpet av året, etter "
                                                     "tjenestegruppe")
            await expect(by_group).to_be_visible()
            home = page.get_by_role("row", name="Hjemmetjenester")
            await expect(home.first).to_be_visible()
            months = page.locator("#by-month-caption + thead + tbody tr")
            await expect(months).to_have_count(12)
            await expect(page.get_by_role("img", name="Hjemmetjenester: brukere ved utgangen "
                                                       "av hver måned")).to_be_visible()
            # a small count is never shown: marked "." with its meaning for screen readers
            await expect(page.locator("td", has_text="(prikket)").first).to_be_attached()
            await checked(page, "dashboard-nb")

            await page.get_by_label("Kommune").select_option("1103")
            await page.get_by_role("button", name="Vis").click()
            await expect(page.get_by_text("Publiserte tall for kommune 1103, 2025.")
                         ).to_be_visible()

            await page.get_by_role("link", name="English").click()
            await expect(page.get_by_role("heading", level=1, name="Care service users")
                         ).to_be_visible()
            await expect(page.locator("html")).to_have_attribute("lang", "en")
            await expect(page.get_by_text("Published numbers for municipality 1103, 2025.")
                         ).to_be_visible()
            await checked(page, "dashboard-en")
            assert requested and all(r.startswith(url) for r in requested), requested

            r = await page.goto(url + "/dashboard?year=2099")
            assert r is not None and r.status == 422
            r = await page.goto(url + "/dashboard?municipality=../x")
            assert r is not None and r.status == 422
