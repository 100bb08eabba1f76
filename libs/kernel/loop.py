"""The event loop of a long-running process that is not an API: uvloop, as the APIs have.

uvicorn runs the APIs on uvloop (it picks it when it is installed); the relays, projection
runners and the benchmark's copies of them ran on asyncio's own loop, which costs more per
socket read, write and callback: the work those processes are made of (aiokafka's fetches and
produces, asyncpg's statements). Measured with ``python -m bench.fhir --ours-only`` (two
rounds, relay and projections on each loop, 5 Dec 2026): their CPU per FHIR read 0.44 ms on
asyncio's loop against 0.37-0.38 on uvloop, per create 2.61 against 2.50 (bench/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")


def run_on_uvloop(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on a uvloop event loop."""
    return uvloop.run(main)
