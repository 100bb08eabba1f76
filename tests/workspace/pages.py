"""Short-hands for the workspace in Chromium: sign in through the HelseID-shaped picker."""

from __future__ import annotations

from playwright.async_api import Page, expect


async def sign_in(page: Page, url: str, who: str = "Nina Sykepleier") -> None:
    await page.goto(url + "/")
    await page.get_by_role("link", name="Logg inn med HelseID").click()
    await expect(page.get_by_role("heading", name="Velg testbehandler")).to_be_visible()
    await page.get_by_role("button", name=who).click()
    await expect(page.get_by_role("heading", name="Dagens arbeidsliste")).to_be_visible()
