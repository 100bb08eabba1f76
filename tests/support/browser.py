"""Pages in a real browser: an ASGI app served on a real port in the test's event loop, Debian's
Chromium driven by Playwright for Python, axe-core in every checked page, and screenshots kept
as test artefacts (never in the repository).

    async with served(app) as url:                    # uvicorn, lifespan off (already started)
        async with chromium(tmp_path) as browser:     # a fresh profile each time
            page = await browser.new_page()
            await page.goto(url)
            await checked(page, "landing")            # axe: no serious or critical violation

Chromium is ``/usr/bin/chromium`` (``EHR_CHROMIUM`` overrides; ``make`` installs the Debian
package when it is missing). Screenshots go to ``test-artefacts/screenshots/<test>/`` (or
``EHR_TEST_ARTEFACTS``), a git-ignored folder that CI can keep.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import uvicorn
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import BrowserContext, Page, async_playwright

from libs.config import REPO_ROOT
from libs.devstack.procs import free_port

CHROMIUM = os.environ.get("EHR_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTEFACTS = Path(os.environ.get("EHR_TEST_ARTEFACTS", REPO_ROOT / "test-artefacts"))
PHONE = {"width": 360, "height": 740}
BLOCKING = ("serious", "critical")
_axe = Axe()


@asynccontextmanager
async def served(app, port: int | None = None, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """``app`` on a real port, in this event loop (its lifespan is the caller's); yields its
    base URL once it accepts connections."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off",
                                           log_level="warning", access_log=False))
    server.install_signal_handlers = lambda: None   # the test runner keeps its own
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


@asynccontextmanager
async def chromium(profile: Path, viewport: dict | None = None,
                   locale: str = "nb-NO") -> AsyncIterator[BrowserContext]:
    """Headless Chromium with a fresh profile (``--user-data-dir`` = ``profile``, created
    empty), at a phone's width unless told otherwise."""
    profile.mkdir(parents=True, exist_ok=False)
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport=viewport or PHONE, locale=locale)
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            await context.close()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:120]


async def screenshot(page: Page, name: str) -> Path:
    test = _slug(os.environ.get("PYTEST_CURRENT_TEST", "manual").split(" ")[0])
    path = ARTEFACTS / "screenshots" / test / f"{_slug(name)}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(path), full_page=True)
    return path


async def axe_violations(page: Page) -> list[dict]:
    """axe-core's serious and critical violations on the page as it stands (WCAG 2.1 A/AA
    rules and best practices)."""
    results = await _axe.run(page, options={
        "resultTypes": ["violations"],
        "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa",
                                              "best-practice"]}})
    return [v for v in results.response["violations"] if v.get("impact") in BLOCKING]


async def fits_width(page: Page) -> bool:
    """Nothing scrolls sideways at the page's width (a table may scroll in its own region)."""
    return await page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth")


_FOCUSABLE = ("a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), "
              "select, textarea, [tabindex]:not([tabindex='-1'])")


async def not_reached_by_tab(page: Page) -> list[str]:
    """The visible controls of the page that the Tab key never reaches (walking it once)."""
    total = await page.evaluate("""sel => {
        const all = [...document.querySelectorAll(sel)].filter(e => e.getClientRects().length);
        all.forEach((e, i) => e.dataset.kb = String(i));
        if (document.activeElement) document.activeElement.blur();
        return all.length; }""", _FOCUSABLE)
    seen: set[str] = set()
    for _ in range(total + 5):
        await page.keyboard.press("Tab")
        kb = await page.evaluate("() => document.activeElement && "
                                 "document.activeElement.dataset.kb")
        if kb is not None:
            seen.add(kb)
    return await page.evaluate("""seen => [...document.querySelectorAll('[data-kb]')]
        .filter(e => !seen.includes(e.dataset.kb))
        .map(e => e.outerHTML.slice(0, 80))""", sorted(seen))


async def checked(page: Page, name: str) -> None:
    """Screenshot, then assert no serious or critical axe violation, no sideways scroll, and
    every visible control reachable by the Tab key."""
    await screenshot(page, name)
    bad = await axe_violations(page)
    assert not bad, f"{name}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}" for v in bad)
    assert await fits_width(page), f"{name} scrolls sideways at {page.viewport_size}"
    missed = await not_reached_by_tab(page)
    assert not missed, f"{name}: not reachable by keyboard: {missed}"


async def tab_to(page: Page, selector: str, limit: int = 60) -> None:
    """Press Tab until ``selector`` has the focus (it is reachable by keyboard), or fail."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate("s => document.activeElement && "
                               "document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} cannot be reached with the Tab key")


@pytest.fixture
async def browser(tmp_path) -> AsyncIterator[BrowserContext]:
    """A fresh headless Chromium at 360 px for one test (import it into a test module)."""
    async with chromium(tmp_path / "profile") as context:
        yield context
