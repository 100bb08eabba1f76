"""Flame graphs of the journal under the FHIR benchmark (``--profile <tag>``): py-spy samples
the journal's process while one phase runs on our side (``bench/citizen_profile.py`` does the
sampling) and the graph is kept as ``bench/profiles/fhir-<phase>-<tag>.svg``."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from bench.citizen_profile import PROFILES, flame


@contextlib.asynccontextmanager
async def flame_of(pid: int | None, phase: str, tag: str | None, seconds: float,
                   out_dir: Path = PROFILES) -> AsyncIterator[Path | None]:
    """Sample ``pid`` for ``seconds`` into ``fhir-<phase>-<tag>.svg``; nothing without a pid
    or a tag."""
    if pid is None or not tag:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="fhir-profile-") as tmp:
        async with flame(pid, phase, tag, seconds, out_dir=Path(tmp)) as made:
            yield out_dir / f"fhir-{phase}-{tag}.svg"
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.move(str(made), out_dir / f"fhir-{phase}-{tag}.svg")
