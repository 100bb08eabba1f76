"""Back-pressure's line (``http/pressure.Turns``, pure asyncio): at most ``working`` requests
are written at once, a red alarm goes before every routine request waiting, and a request
whose client went away while it waited leaves no turn behind."""

from __future__ import annotations

import asyncio

from services.welfare.http.pressure import Turns


async def _hold(turns: Turns, name: str, urgent: bool, order: list[str],
                release: asyncio.Event) -> None:
    async with turns.turn(urgent):
        order.append(name)
        await release.wait()


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_red_alarm_goes_before_the_routine_requests_waiting():
    turns, order, go = Turns(working=1), [], asyncio.Event()
    first = asyncio.create_task(_hold(turns, "first", False, order, go))
    await _settle()
    waiting = [asyncio.create_task(_hold(turns, n, u, order, go))
               for n, u in (("r1", False), ("r2", False), ("alarm", True), ("r3", False))]
    await _settle()
    assert order == ["first"]   # one at a time: the others wait
    go.set()
    await asyncio.wait_for(asyncio.gather(first, *waiting), 5)
    assert order == ["first", "alarm", "r1", "r2", "r3"]
    assert turns.free == 1


async def test_at_most_working_at_once_and_every_turn_comes_back():
    turns, busy, peak = Turns(working=3), 0, 0

    async def one(i: int) -> None:
        nonlocal busy, peak
        async with turns.turn(urgent=i % 5 == 0):
            busy += 1
            peak = max(peak, busy)
            await asyncio.sleep(0)
            busy -= 1

    await asyncio.gather(*(one(i) for i in range(50)))
    assert peak == 3 and turns.free == 3


async def _three(gone_urgent: bool):
    """One turn: "first" holds it; "gone" (to be cancelled) and "after" wait for it."""
    turns, order, go = Turns(working=1), [], asyncio.Event()
    first = asyncio.create_task(_hold(turns, "first", False, order, go))
    await _settle()
    gone = asyncio.create_task(_hold(turns, "gone", gone_urgent, order, go))
    after = asyncio.create_task(_hold(turns, "after", False, order, go))
    await _settle()
    return turns, order, go, first, gone, after


async def test_a_request_cancelled_while_it_waits_leaves_no_turn_behind():
    turns, order, go, first, gone, after = await _three(gone_urgent=True)
    gone.cancel()
    await _settle()
    go.set()
    await asyncio.wait_for(asyncio.gather(first, after), 5)   # a lost turn: nobody runs
    assert order == ["first", "after"] and gone.cancelled()
    assert turns.free == 1


async def test_a_request_cancelled_as_its_turn_came_passes_it_on():
    turns, order, go, first, gone, after = await _three(gone_urgent=False)
    go.set()
    await asyncio.sleep(0)   # "first" leaves and hands its turn to "gone" ...
    gone.cancel()            # ... which is cancelled before it runs
    await asyncio.wait_for(asyncio.gather(first, after), 5)   # a lost turn: nobody runs
    assert gone.cancelled() and "after" in order and "gone" not in order
    assert turns.free == 1
