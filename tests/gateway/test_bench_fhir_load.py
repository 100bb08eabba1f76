"""What the FHIR benchmark charges to no side (``bench/fhir/cpu.py``, ``Load``): how busy the
machine was while the clients ran, and the client's own CPU. A phase at 100 % busy measured the
CPU the client left the server, so the table shows both beside every phase."""

from __future__ import annotations

import time
from pathlib import Path

from bench.fhir import cpu

LINE = "cpu  {user} 0 {system} {idle} {iowait} 0 {softirq} {steal} 0 0\n"


def test_busy_ticks_are_every_state_but_idle_and_io_wait(tmp_path: Path):
    stat = tmp_path / "stat"
    stat.write_text(LINE.format(user=700, system=200, idle=1000, iowait=50, softirq=30,
                                steal=20) + "cpu0 1 2 3 4 5 6 7 8 9 10\nintr 5\n")
    assert cpu.machine_ticks(str(stat)) == (950, 2000)


def test_the_client_s_own_cpu_counts_and_a_busy_share_stays_within_the_machine():
    load = cpu.Load()
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:   # the client working
        pass
    busy, own = load.stop()
    assert own >= 0.05
    assert 0 < busy <= 1
