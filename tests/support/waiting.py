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


async def passes(check, timeout_s: float = 30, interval_s: float = 0.1):
    """Run ``check`` (sync or async, asserting) until it stops raising AssertionError; return
    its result. The last AssertionError is raised when time runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            return result
        except AssertionError:
            if loop.time() > deadline:
                raise
        await asyncio.sleep(interval_s)
