"""The relay and projection processes run on uvloop, as the APIs do (libs/kernel/loop.py)."""

from __future__ import annotations

import asyncio

import uvloop

from cli import streams
from libs.kernel.loop import run_on_uvloop


async def _loop_type() -> type:
    return type(asyncio.get_running_loop())


def test_run_on_uvloop_runs_the_coroutine_on_uvloop_and_returns_its_result():
    assert run_on_uvloop(_loop_type()) is uvloop.Loop


def test_the_long_running_commands_run_on_uvloop(monkeypatch):
    # `ehr run relay`, `ehr run projections`, `ehr relay run`, `ehr projection run`
    monkeypatch.setattr(streams, "settle_heap", lambda: None)   # keep this process's collector
    seen: list[type] = []

    async def main(stop: asyncio.Event) -> None:
        seen.append(await _loop_type())
        assert not stop.is_set()

    streams._run_until_signal(main)
    assert seen == [uvloop.Loop]
