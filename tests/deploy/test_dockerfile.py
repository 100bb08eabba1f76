"""No container engine runs here, so the Dockerfile's rules are checked as text: multi-stage on
a pinned slim Python 3.11, dependencies pinned by constraints.txt, no compiler in the final
stage, a non-root user, `ehr` as the entrypoint, and a .dockerignore that keeps the local
environments and the tests out."""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMPILERS = re.compile(r"\b(build-essential|gcc|g\+\+|clang|make|cmake|cython)\b")


def instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def stages(text: str) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for op, rest in instructions(text):
        if op == "FROM":
            result.append([])
        if result:
            result[-1].append((op, rest))
    return result


DOCKERFILE = (REPO / "Dockerfile").read_text()


def test_every_base_is_a_pinned_slim_python_311_never_latest():
    bases = [rest.split()[0] for op, rest in instructions(DOCKERFILE) if op == "FROM"]
    assert len(bases) >= 2, "multi-stage: a build stage and a run stage"
    for base in bases:
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base) or \
            re.fullmatch(r"python@sha256:[0-9a-f]{64}", base), base
        assert "latest" not in base


def test_dependencies_are_pinned_by_constraints():
    installs = [rest for op, rest in instructions(DOCKERFILE)
                if op == "RUN" and "pip install" in rest]
    assert installs and all("-c constraints.txt" in r for r in installs)


def test_the_final_stage_runs_ehr_as_a_non_root_user_without_compilers():
    final = stages(DOCKERFILE)[-1]
    users = [rest for op, rest in final if op == "USER"]
    assert users, "the final stage names a user"
    user = users[-1].split(":")[0]
    assert user not in ("0", "root") and (not user.isdigit() or int(user) >= 1000)
    for op, rest in final:
        if op == "RUN":
            assert not COMPILERS.search(rest), rest
    entrypoint = [rest for op, rest in final if op == "ENTRYPOINT"]
    assert entrypoint and json.loads(entrypoint[-1]) == ["ehr"]


def test_the_dockerignore_keeps_local_state_and_tests_out():
    ignored = {line.strip().rstrip("/") for line in
               (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".venv", ".cache", ".local", "tests", ".git"} <= ignored


def test_the_rules_above_catch_a_bad_dockerfile():
    bad = "FROM python:latest\nRUN pip install fastapi\nRUN apt-get install -y gcc\nUSER root\n"
    (base,) = [rest for op, rest in instructions(bad) if op == "FROM"]
    assert not re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base)
    final = stages(bad)[-1]
    assert any(COMPILERS.search(rest) for op, rest in final if op == "RUN")
    assert [rest for op, rest in final if op == "USER"] == ["root"]
