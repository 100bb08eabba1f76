"""``python -m bench.workspace`` (``make bench-workspace``): the clinician workspace (issue 18)
in Chromium, each figure next to a baseline measured in the same run.

- **time to a usable screen**: from navigation start (``performance.now()`` of the new
  document) until the screen's data is visible: the worklist's first patient link, the
  patient overview's CAVE; **cold** (a fresh browser context, its HTTP cache cleared, service
  workers blocked) and **warm** (service worker installed and its cache filled by a first
  visit, HTTP cache kept), each over Chromium's network throttled to "Slow 4G" (CDP
  ``Network.emulateNetworkConditions``, Lighthouse's mobile slow-4G figures: 562.5 ms round
  trip, 1.47 Mbit/s down, 675 kbit/s up), the page's and its service worker's fetches alike;
- **page weight**: bytes transferred over the network (``encodedDataLength``, headers
  included; the page's and its service worker's; what the worker's cache or the HTTP cache
  answers costs nothing) until the network is idle, by resource type;
- **baseline**: the same screens as a bare FastAPI page rendering the same read-model rows
  (``bench/workspace_raw.py``), loaded the same way.

The stack is the one the browser tests use (``tests/workspace/conftest.running_workspace``:
the consent service, the journal, the medication service and the workspace, in this process,
on the run's own schemas and topics; PostgreSQL and Kafka from ``bench.infra.stack``). Output:
a rich table and ``bench/out/workspace-<time>.json`` with every sample.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path

import typer
from playwright.async_api import Browser, CDPSession, Page, async_playwright
from rich.console import Console

from bench import workspace_report as wr
from bench.infra import loadavg, stack
from bench.util import make_progress, tracked
from bench.workspace_raw import raw_app
from libs.config import REPO_ROOT

OUT = REPO_ROOT / "bench" / "out"
SLOW_4G = {"offline": False, "latency": 562.5, "downloadThroughput": 1_474.56 * 1024 / 8,
           "uploadThroughput": 675 * 1024 / 8}
# (figure, the workspace's path, the baseline's path, what shows the data on each)
SCREENS = (("worklist", "/worklist", "/raw/worklist/{unit}", "a[href^='/patients/']", "td"),
           ("patient overview", "/patients/{patient}", "/raw/patients/{patient}", ".cave",
            "td"))
LOADS = ("cold", "warm")


UNTHROTTLED = {**SLOW_4G, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}


class Transfers:
    """Bytes transferred by resource type, from CDP's ``Network`` events of one target."""

    def __init__(self) -> None:
        self.types: dict[str, str] = {}
        self.sizes: dict[str, int] | None = None   # counting while set

    def event(self, method: str, params: dict) -> None:
        if method == "Network.responseReceived":
            self.types[params["requestId"]] = params.get("type", "Other")
        elif method == "Network.loadingFinished" and self.sizes is not None:
            kind = self.types.get(params["requestId"], "Other")
            self.sizes[kind] = self.sizes.get(kind, 0) + int(params["encodedDataLength"])


class Workers:
    """The service workers' own fetches (not the page's: a page the worker fetches from the
    network is not throttled or counted by the page's session), throttled and counted the
    same way, over the browser's CDP session (``Target.sendMessageToTarget``)."""

    def __init__(self, cdp: CDPSession):
        self.cdp, self.sessions, self.sent = cdp, [], 0
        self.transfers = Transfers()
        cdp.on("Target.receivedMessageFromTarget", self._message)

    async def attach(self) -> None:
        for t in (await self.cdp.send("Target.getTargets"))["targetInfos"]:
            if t["type"] == "service_worker":
                self.sessions.append((await self.cdp.send("Target.attachToTarget", {
                    "targetId": t["targetId"], "flatten": False}))["sessionId"])
                await self._send(self.sessions[-1], "Network.enable", {})

    async def throttle(self, conditions: dict) -> None:
        for sid in self.sessions:
            await self._send(sid, "Network.emulateNetworkConditions", conditions)

    async def _send(self, sid: str, method: str, params: dict) -> None:
        self.sent += 1
        await self.cdp.send("Target.sendMessageToTarget", {"sessionId": sid, "message": json.dumps(
            {"id": self.sent, "method": method, "params": params})})

    def _message(self, e: dict) -> None:
        msg = json.loads(e["message"])
        if "method" in msg:
            self.transfers.event(msg["method"], msg.get("params", {}))


async def _load(page: Page, url: str, ready: str, workers: Workers | None = None) -> dict:
    """One throttled navigation: ms to the data visible, and bytes transferred by type (the
    page's and its service worker's)."""
    cdp = await page.context.new_cdp_session(page)
    mine, sizes = Transfers(), {}
    mine.sizes = sizes
    for method in ("Network.responseReceived", "Network.loadingFinished"):
        cdp.on(method, lambda e, m=method: mine.event(m, e))
    await cdp.send("Network.enable")
    await cdp.send("Network.emulateNetworkConditions", SLOW_4G)
    if workers is not None:
        workers.transfers.sizes = sizes
        await workers.throttle(SLOW_4G)
    await page.goto(url, wait_until="commit")
    await page.locator(ready).first.wait_for(state="visible", timeout=30_000)
    usable = await page.evaluate("performance.now()")
    await page.wait_for_load_state("networkidle")
    await cdp.send("Network.emulateNetworkConditions", UNTHROTTLED)
    if workers is not None:
        await workers.throttle(UNTHROTTLED)
        workers.transfers.sizes = None
    await cdp.detach()
    return {"usable_ms": round(usable, 1), "bytes": dict(sizes)}


async def _clear_cache(page: Page) -> None:
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Network.clearBrowserCache")
    await cdp.detach()


async def _sign_in(page: Page, url: str) -> None:
    from tests.workspace.pages import sign_in   # the browser tests' sign-in, as a nurse
    await sign_in(page, url)


async def _series(browser: Browser, base: str, paths: list[tuple[str, str]], load: str,
                  signed: bool, repeats: int, counter) -> dict[str, list[dict]]:
    """``repeats`` loads of each (path, ready) in one context: cold (cache cleared before
    each, no service worker) or warm (a first, unmeasured visit fills the caches)."""
    context = await browser.new_context(viewport={"width": 360, "height": 740},
                                        locale="nb-NO",
                                        service_workers="allow" if load == "warm" else "block")
    workers = None
    try:
        page = await context.new_page()
        if signed:
            await _sign_in(page, base)
        if load == "warm":
            for path, ready in paths:
                await page.goto(base + path)
                await page.locator(ready).first.wait_for(state="visible")
                await page.wait_for_load_state("networkidle")
            if signed:   # the service worker is in control and its cache filled
                await page.wait_for_function("navigator.serviceWorker.controller !== null")
                workers = Workers(await browser.new_browser_cdp_session())
                await workers.attach()
        got: dict[str, list[dict]] = {path: [] for path, _ in paths}
        for _ in range(repeats):
            for path, ready in paths:
                if load == "cold":
                    await _clear_cache(page)
                got[path].append(await _load(page, base + path, ready, workers))
                counter.n += 1
        return got
    finally:
        if workers is not None:
            await workers.cdp.detach()
        await context.close()


async def measure(workspace_url: str, raw_url: str, patient_id: str, unit: str, *,
                  repeats: int = 5, console: Console | None = None,
                  out_dir: Path = OUT) -> dict:
    """Every screen, cold and warm, on the workspace and on the baseline: printed, written to
    ``out_dir``, and returned."""
    console = console or Console()
    about = {"load average before": loadavg(), "repeats": repeats, "network": SLOW_4G,
             "viewport": "360x740"}
    fill = {"unit": unit, "patient": patient_id}
    sides = (("workspace", workspace_url, True, 1), ("bare FastAPI", raw_url, False, 2))
    results: dict[tuple[str, str, str], list[dict]] = {}
    with make_progress(console) as progress:
        async with async_playwright() as pw:
            from tests.support.browser import ARGS, CHROMIUM
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                               args=ARGS)
            try:
                for side, base, signed, column in sides:
                    paths = [(s[column].format(**fill), s[2 + column]) for s in SCREENS]
                    for load in LOADS:
                        async with tracked(progress, f"{side}: {load}",
                                           repeats * len(paths)) as n:
                            got = await _series(browser, base, paths, load, signed, repeats,
                                                n)
                        for screen, (path, _) in zip(SCREENS, paths, strict=True):
                            results[(screen[0], load, side)] = got[path]
            finally:
                await browser.close()
    about["load average after"] = loadavg()
    doc = wr.document(results, [s[0] for s in SCREENS], LOADS, about)
    console.print(wr.table(doc))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = wr.write(out_dir / f"workspace-{stamp}.json", doc)
    console.print(f"written: {written.name} in {out_dir}")
    return doc


async def run(url: str, bootstrap: str, *, repeats: int = 5,
              console: Console | None = None, out_dir: Path = OUT) -> dict:
    """Start the services on ``url`` / ``bootstrap``, prepare the round, serve the baseline,
    and measure."""
    from libs.events.kafka_admin import apply_topics
    from libs.events.topics import TopicSpec, all_topics
    from tests.support.browser import served
    from tests.workspace.conftest import HOME_CARE, running_workspace

    unique = "b" + uuid.uuid4().hex[:9]

    async def make_topics(base: str, partitions: int = 3) -> str:
        name = f"{base}.{unique}"
        await apply_topics(bootstrap, all_topics((TopicSpec(name, partitions, "bench"),)))
        return name

    tmp = REPO_ROOT / ".local" / "bench-workspace" / unique
    tmp.mkdir(parents=True, exist_ok=True)
    async with running_workspace(url, bootstrap, unique, make_topics, tmp) as day, \
            AsyncExitStack() as stack_:
        await day.prepare()
        raw = raw_app(url, f"t_{unique}_journal", f"t_{unique}_medication")
        await stack_.enter_async_context(raw.router.lifespan_context(raw))
        raw_url = await stack_.enter_async_context(served(raw))
        return await measure(day.url, raw_url, day.patient_id, HOME_CARE, repeats=repeats,
                             console=console, out_dir=out_dir)


app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def main(repeats: int = typer.Option(5, help="measured loads of each screen, per side and "
                                             "load")) -> None:
    with stack() as handle:
        asyncio.run(run(handle.database_url, handle.kafka_bootstrap, repeats=repeats))


if __name__ == "__main__":
    app()
