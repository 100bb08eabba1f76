"""``--profile-of`` of the FHIR benchmark: the flame graphs of any of our Python processes, by
the role the CPU table gives it; a role no process has is refused before the run starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.fhir.__main__ import app
from bench.fhir.ours import SERVICES, python_roles
from bench.fhir.profile import UnknownRole, check_role
from bench.loadgen import Server
from bench.util import Child


def test_the_roles_are_those_the_cpu_table_names_each_server_by(tmp_path: Path):
    named = set()
    for n, service in enumerate(SERVICES):
        api, bg = Child("api", [], tmp_path / "a.log"), Child("bg", [], tmp_path / "b.log")
        api.proc, bg.proc = _Pid(2 * n + 1000), _Pid(2 * n + 1001)
        named |= set(Server(api, bg).roles(service).values())
    assert set(python_roles()) == named
    assert "consent: relay and projections" in named


def test_a_known_role_passes_and_an_unknown_one_names_the_choices():
    check_role("consent: relay and projections", python_roles())
    with pytest.raises(UnknownRole, match="'journal: relay and projections'"):
        check_role("consent relay", python_roles())


def test_the_command_refuses_an_unknown_role_before_starting_anything():
    result = CliRunner().invoke(app, ["--ours-only", "--profile", "x", "--profile-of", "kafka"])
    assert result.exit_code == 2
    assert "no such process" in result.output


class _Pid:
    def __init__(self, pid: int):
        self.pid = pid
