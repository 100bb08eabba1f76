"""The published AsyncAPI document passes the official parser (``@asyncapi/parser``, pinned in
tools/asyncapi/package-lock.json and installed by ``make asyncapi-parser`` into .cache/), the
tool a consumer generating code from the contract runs first."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from libs.config import REPO_ROOT

CHECK = REPO_ROOT / "tools" / "asyncapi" / "check.cjs"
PARSER = REPO_ROOT / ".cache" / "asyncapi" / "node_modules" / "@asyncapi" / "parser"


def diagnostics(document: Path) -> tuple[int, list[dict]]:
    assert PARSER.is_dir(), "the AsyncAPI parser is missing: run `make asyncapi-parser`"
    done = subprocess.run([shutil.which("node") or "node", str(CHECK), str(document)],
                          capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return done.returncode, lines


def test_the_checked_in_asyncapi_document_has_no_parser_errors():
    code, found = diagnostics(REPO_ROOT / "schemas" / "asyncapi.json")
    errors = [d for d in found if d["severity"] == "error"]
    assert errors == [] and code == 0, errors


def test_the_parser_check_reports_a_reference_that_does_not_resolve(tmp_path):
    """The same check over a copy with a dangling $ref (the fault the exporter once had)."""
    shutil.copytree(REPO_ROOT / "schemas" / "events", tmp_path / "events")
    doc = json.loads((REPO_ROOT / "schemas" / "asyncapi.json").read_text())
    doc["components"]["schemas"]["Envelope"]["properties"]["actor"] = {"$ref": "#/$defs/Actor"}
    (tmp_path / "asyncapi.json").write_text(json.dumps(doc))
    code, found = diagnostics(tmp_path / "asyncapi.json")
    assert code == 1
    assert any(d["severity"] == "error" and d["path"].endswith("properties.actor.$ref")
               for d in found), found
