"""``ehr registry``: the commands wired to the real stack, and their refusals as one clear
line and exit code 1."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cli.main import app


def test_the_commands_refuse_clearly_and_print_tables(cli_env, monkeypatch, unique, tmp_path):
    monkeypatch.setenv("EHR_REGISTRY_OUT_DIR", str(tmp_path))
    runner = CliRunner()
    common = ["--schema", f"t_{unique}", "--app-id", f"nothing-{unique}"]
    r = runner.invoke(app, ["registry", "kpr", "--year", "2099", *common])
    assert r.exit_code == 1 and "can be made from 1 January 2100" in r.output
    r = runner.invoke(app, ["registry", "release", "--project", "P9", "--basis",
                            "hrl § 19 a", "--year", "2025", *common])
    assert r.exit_code == 1 and "has no pseudonym key" in r.output
    r = runner.invoke(app, ["registry", "release", "--project", "P9", "--basis", " ",
                            "--year", "2025", *common])
    assert r.exit_code == 1 and "legal basis" in r.output
    r = runner.invoke(app, ["registry", "statistics", "--year", "2025", "--kind", "period",
                            *common])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["class"] == "dataset"
    r = runner.invoke(app, ["registry", "statistics", "--year", "2025", "--format", "csv",
                            *common])
    assert r.exit_code == 0 and r.output.startswith("period,region,age,sex,group,value")
