"""``BENCH_API_WORKERS``: the benchmarks can serve one of our APIs with several processes on
one port (``bench/servers.py``). Both processes must answer, each on its own connections, and
the benchmarks' CPU meter must charge both to the server (it names the parent's pid only)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import aiohttp

from bench import loadgen as lg
from bench.fhir.cpu import listener_pids
from bench.servers import API_WORKERS_ENV
from bench.util import CpuMeter, _parent, _role_of
from cli.services import zombie
from libs.devstack.procs import free_port, pid_alive
from tests.support.waiting import eventually


async def test_two_api_processes_answer_on_one_port_and_count_as_the_server(
        database_url, kafka_bootstrap, schema, make_topics, tmp_path: Path, monkeypatch):
    monkeypatch.setenv(API_WORKERS_ENV, "2")
    topics = {t: await make_topics(t, 3) for t in ("consent.events", "audit.access",
                                                   "journal.events", "welfare.events")}
    config = {"url": database_url, "bootstrap": kafka_bootstrap, "topics": topics,
              "key": str(tmp_path / "key.pem"), "schema": schema, "port": free_port()}
    server = await lg.start_server("journal", config, tmp_path / "journal.log")
    try:
        children = listener_pids(config["port"])   # a socket each: SO_REUSEPORT
        assert len(children) == 2 and {_parent(c) for c in children} == {server.pid}
        meter = CpuMeter(server.roles("journal"))
        async with aiohttp.ClientSession(f"http://127.0.0.1:{config['port']}",
                                         connector=aiohttp.TCPConnector(limit=8)) as http:

            async def health() -> int:
                async with http.get("/health") as r:
                    return r.status
            assert set(await asyncio.gather(*(health() for _ in range(200)))) == {200}
        used = meter.stop()
        assert used.get("journal", 0) > 0
        assert {_role_of(c, {server.pid: "journal"}) for c in children} == {"journal"}
        os.kill(server.pid, signal.SIGKILL)   # a stop that timed out: none may outlive it
        await eventually(lambda: _gone(children), 30, what="the API's processes gone")
    finally:
        await server.stop()



async def _gone(pids: set[int]) -> bool:   # exited (a zombie nobody reaps has exited too)
    return all(not pid_alive(p) or zombie(p) for p in pids)
