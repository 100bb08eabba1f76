"""The browser checks the portal's tests rely on can fail: axe-core finds a serious violation,
the keyboard walk finds a control Tab never reaches, and the width check finds a page that
scrolls sideways at 360 px."""

from __future__ import annotations

from tests.support.browser import axe_violations, chromium, fits_width, not_reached_by_tab

GOOD = """<!doctype html><html lang="nb"><head><title>ok</title></head><body><main>
<h1>Ok</h1><a href="#x">lenke</a><button>knapp</button></main></body></html>"""


async def test_the_checks_pass_a_good_page_and_catch_bad_ones(tmp_path):
    async with chromium(tmp_path / "profile") as browser:
        page = await browser.new_page()
        await page.set_content(GOOD)
        assert await axe_violations(page) == []
        assert await not_reached_by_tab(page) == []
        assert await fits_width(page)

        await page.set_content(GOOD.replace("<button>knapp</button>",
                                            '<button tabindex="-1">knapp</button>'
                                            '<input type="text">'))
        assert [v["id"] for v in await axe_violations(page)] == ["label"]   # critical
        missed = await not_reached_by_tab(page)
        assert len(missed) == 1 and "knapp" in missed[0]

        await page.set_content(GOOD.replace("<h1>Ok</h1>", '<div style="width:900px">x</div>'))
        assert not await fits_width(page)
