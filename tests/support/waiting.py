"""Bounded waiting for asynchronous effects (never an assertion on elapsed time)."""

from __future__ import annotations

import asyncio
import inspect


async def eventually(predicate, timeout_s: float = 60, interval_s: float = 0.05, what: str = ""):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s {what}".strip())
        await asyncio.sleep(interval_s)
