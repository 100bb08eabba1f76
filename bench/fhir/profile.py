"""Flame graphs of the journal under the FHIR benchmark (``--profile <tag>``): py-spy samples
the journal's process while one phase runs on our side (``bench/citizen_profile.py`` does the
sampling) and the graph is kept as ``bench/profiles/fhir-<phase>-<tag>.svg``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
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


class UnknownRole(Exception):
    """``--profile-of`` names no process of ours."""


def check_role(role: str, roles: Iterable[str]) -> None:
    """Refuse a role no process has before a run, rather than keep no graph after it."""
    known = sorted(set(roles))
    if role not in known:
        raise UnknownRole(f"--profile-of {role!r}: no such process; ours are "
                          + ", ".join(repr(r) for r in known))
