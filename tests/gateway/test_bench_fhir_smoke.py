"""The FHIR benchmark's client (``bench/fhir``) against OUR side only, tiny and short, on the
real stack: the three services behind the gateway's nginx (``test_one_base.gateway``), a
home-care nurse registering patients by transaction and then creating, reading and searching.
Every phase must produce figures (throughput, latencies, CPU per request by process) and the
report must hold them; the values themselves are the benchmark's business, not this test's.
HAPI (Java, Maven) is not needed here: ``make bench-fhir`` runs the comparison."""

from __future__ import annotations

import json
import math
import os

from rich.console import Console

from bench.fhir import cpu
from bench.fhir import report as rp
from bench.fhir import workload as wl
from bench.fhir.ours import set_up, stack_roots
from cli.gateway import running
from tests.gateway.test_one_base import gateway
from tests.medication.conftest import Ward

CLIENTS, SECONDS, WARMUP = 4, 4.0, 0.5   # seconds: a create waits for the read model


async def test_every_phase_of_the_fhir_benchmark_produces_figures_on_our_side(
        ward: Ward, tmp_path, database_url, kafka_bootstrap):
    async with gateway(ward, tmp_path) as g:
        side = wl.Side("ours", str(g.base_url), ward.c.nurse())
        nginx = running(tmp_path / "gateway")
        assert nginx is not None
        roots = {os.getpid(): "services (this process)", nginx: "gateway (nginx)"}
        procs = cpu.SideProcesses(roots | stack_roots(database_url, kafka_bootstrap))
        assert set(procs.roots.values()) >= {cpu.POSTGRES, cpu.KAFKA}
        people = wl.People()
        async with wl.client(side, CLIENTS) as http:
            known = await set_up(http, side, people, 2)
            assert len(known.patients) == 2 and len(known.observations) == 2 * wl.OBSERVATIONS
            sends = wl.requests(side, known, people)
            results, other = [], []
            async with wl.sender(side, CLIENTS, "httpx", http) as s:
                for phase in wl.PHASES:
                    res, used = await cpu.measure(procs, lambda: wl.closed_loop(
                        s, side.name, phase, sends[phase], CLIENTS, SECONDS, WARMUP),
                        settle_s=1)
                    res.cpu = used
                    results.append(res)
            # the other client sends the same requests (a body, a path, a query) and is answered
            async with wl.sender(side, CLIENTS, "aiohttp", http) as s:
                for phase in ("create", "read", "search"):
                    other.append(await wl.closed_loop(s, side.name, phase, sends[phase], CLIENTS,
                                                      SECONDS / 2, WARMUP))

    for res in other:
        assert res.lat and set(res.status) == {201 if res.phase == "create" else 200}, \
            (res.phase, res.status)
        assert res.client_cpu_ms > 0

    for res in results:
        assert res.lat, (res.phase, res.status)
        assert all(200 <= s < 300 for s in res.status), (res.phase, res.status)
        assert res.rate > 0 and math.isfinite(res.p(50)) and math.isfinite(res.p(99))
        assert res.cpu_ms > 0 and res.cpu.get(cpu.POSTGRES, 0) > 0, (res.phase, res.cpu)
        # the client's own CPU and the machine's load, beside the sides' (services run in
        # this process here, so the client's figure holds theirs too)
        assert res.client_cpu_ms > 0 and 0 < res.busy <= 1, (res.phase, res.busy)

    about = {"clients": CLIENTS, "rounds": 1, "seconds": SECONDS}
    path = rp.write(tmp_path / "out", "smoke", results, about)
    doc = json.loads(path.read_text())
    assert list(doc["summary"]) == list(wl.PHASES)
    assert all(doc["summary"][p]["ours"]["cpu_ms"] > 0 for p in wl.PHASES)
    assert all(0 < doc["summary"][p]["ours"]["machine_busy"] <= 1 for p in wl.PHASES)
    console = Console(record=True, width=200)
    console.print(rp.table(rp.summary(results), about))
    shown = console.export_text()
    assert all(p in shown for p in wl.PHASES)
    assert "machine busy" in shown and "%;" in shown and "clients (httpx)" in shown
