"""Flame graphs of the journal under the FHIR benchmark (``--profile <tag>``): py-spy samples
the journal's process while one phase runs on our side (``bench/citizen_profile.py`` does the
sampling) and the graph is kept as ``bench/profiles/fhir-<phase>-<tag>.svg``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from bench.citizen_profile import PROFILES, flame


@contextlib.asynccontextmanager
async def flame_of(pid: int | None, phase: str, tag: str | None, seconds: float,
                   out_dir: Path = PROFILES) -> AsyncIterator[Path | None]:
    """Sample ``pid`` for ``seconds`` into ``fhir-<phase>-<tag>.svg``; nothing without a pid
    or a tag."""
    async with flame(pid, phase, tag if pid is not None else None, seconds, out_dir,
                     kind="fhir") as out:
        yield out
