"""Flame graphs of the citizen service under the benchmark's load (``make bench-citizen
BENCH_CITIZEN_ARGS="--profile before"``): py-spy samples the service's process (and its
children, so uvicorn workers too) while one page's open loop runs, and writes
``bench/profiles/citizen-<page>-<tag>.svg``. py-spy reads the process's memory without
stopping it (``--nonblocking``), so the figures measured alongside move little."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from libs.config import REPO_ROOT

PROFILES = REPO_ROOT / "bench" / "profiles"


def py_spy() -> str:
    """py-spy of this environment (a test dependency, pinned in constraints.txt)."""
    here = Path(sys.executable).parent / "py-spy"
    found = str(here) if here.exists() else shutil.which("py-spy")
    if found is None:
        raise RuntimeError("py-spy is missing: make install")
    return found


def slug(what: str) -> str:
    return what.replace(" ", "-").replace('"', "")


@contextlib.asynccontextmanager
async def flame(pid: int, what: str, tag: str | None, seconds: float,
                out_dir: Path = PROFILES, kind: str = "citizen") -> AsyncIterator[Path | None]:
    """Sample ``pid`` for ``seconds`` (the loop's length) into ``<kind>-<what>-<tag>.svg``
    (the citizen, welfare and FHIR benchmarks' graphs); nothing without a tag."""
    if not tag:
        yield None
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{kind}-{slug(what)}-{tag}.svg"
    proc = await asyncio.create_subprocess_exec(
        py_spy(), "record", "--pid", str(pid), "--subprocesses", "--nonblocking",
        "--duration", str(max(1, round(seconds))), "--rate", "200", "--format", "flamegraph",
        "--output", str(out), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    try:
        yield out
    finally:
        _, err = await asyncio.wait_for(proc.communicate(), seconds + 60)
        if proc.returncode != 0:
            raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')[-500:]}")
        out.write_text(without_machine_paths(out.read_text()))


def without_machine_paths(svg: str) -> str:
    """A graph's text (the process's command line, py-spy's) with paths relative to the
    repository, and no temporary directory: the graphs are kept in the repository."""
    svg = svg.replace(f"{REPO_ROOT}/", "")
    return re.sub(re.escape(tempfile.gettempdir()) + r"/[\w.-]+/", "", svg)


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and every live process below it (the
    uvicorn workers of the API): divided by the pages served, the CPU a page costs, a figure
    that a busy machine moves much less than latency."""
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue   # ended meanwhile
        parents[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += used.get(p, 0.0)
        todo += [child for child, parent in parents.items() if parent == p]
    return total
