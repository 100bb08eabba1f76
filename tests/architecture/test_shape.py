"""The shape every service shares (README, "Layout"), checked without a server: what the
manifests declare, module sizes, where settings are read, and no module named in a string.
The import layers themselves are import-linter's contracts (pyproject.toml, `make test`)."""

from __future__ import annotations

import ast
import importlib.util
import re
from dataclasses import replace
from pathlib import Path

import pytest

from cli.manifests import MANIFESTS, every_event
from libs.config import REPO_ROOT
from libs.web.manifest import same_topic

CODE = [p for top in ("libs", "services", "cli") for p in (REPO_ROOT / top).rglob("*.py")
        if "migrations/versions" not in p.as_posix()]
MAX_LINES = 400
# the benchmarks and the tests keep the size too
SIZED = CODE + [p for top in ("bench", "tests") for p in (REPO_ROOT / top).rglob("*.py")]


def _rel(p: Path) -> str:
    return p.relative_to(REPO_ROOT).as_posix()


def unregistered(manifest) -> list[str]:
    """Event types published on a topic one of the service's projections reads that its
    registry (built from the manifest's ``events``) cannot decode."""
    registry = manifest.registry()
    read = {t for p in manifest.projections(same_topic) for t in p.topics}
    return sorted(cls.event_type for cls in every_event()
                  if cls.topic in read and cls.event_type not in registry.payloads)


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda m: m.name)
def test_a_service_registers_every_event_of_every_topic_it_reads(manifest):
    """An event type published on a topic a projection reads, but missing from the service's
    registry, would go to the DLQ at run time: here it fails first."""
    assert unregistered(manifest) == [], (
        f"{manifest.name}: list the modules of these events in its manifest's events")


def test_a_forgotten_event_module_is_caught():
    medication = next(m for m in MANIFESTS if m.name == "medication")
    forgetful = replace(medication, events=tuple(
        mod for mod in medication.events if not mod.__name__.startswith("services.journal")))
    missing = unregistered(forgetful)
    assert "journal.CriticalInfoRegistered" in missing


def test_projection_names_are_unique_across_services():
    names = [n for m in MANIFESTS for n in m.projection_names()]
    shared = {"access_facts"}   # every service keeps its own copy, in its own schema
    assert len([n for n in names if n not in shared]) == len({n for n in names
                                                              if n not in shared})


@pytest.mark.parametrize("path", SIZED, ids=_rel)
def test_no_module_is_over_400_lines(path):
    lines = path.read_text().count("\n")
    assert lines <= MAX_LINES, f"{_rel(path)} has {lines} lines: split it by role"


def _calls(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            names.append(f.id if isinstance(f, ast.Name) else
                         f.attr if isinstance(f, ast.Attribute) else "")
    return names


def test_settings_are_read_only_in_composition_roots_and_the_cli():
    """Only the composition roots read settings from the environment: a service's app.py (its
    API), its commands.py (its ``ehr`` commands) and the ``ehr`` command; everything else is
    given what it needs."""
    readers = []
    for path in CODE:
        rel = _rel(path)
        if rel.startswith("cli/") or re.fullmatch(r"services/[a-z_]+/(app|commands)\.py", rel) \
                or rel == "libs/config.py":
            continue
        for name in _calls(ast.parse(path.read_text())):
            if name == "get_settings" or (name.endswith("Settings") and name != "Settings"
                                          and name[0].isupper()):
                readers.append(f"{rel}: {name}()")
    assert readers == []


MODULE_STRING = re.compile(r"(?:services|libs|cli)(?:\.[a-z_]+)+(?::[a-z_]+)?")


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name.split(":")[0]) is not None
    except ModuleNotFoundError:
        return False


def test_no_module_is_named_in_a_string():
    """Wiring is by import, never by a module path in a string (a typo there fails at run
    time, and no tool can follow it)."""
    found = []
    for path in CODE:
        source = path.read_text()
        found += [f"{_rel(path)}: {node.value!r}" for node in ast.walk(ast.parse(source))
                  if isinstance(node, ast.Constant) and isinstance(node.value, str)
                  and MODULE_STRING.fullmatch(node.value) and _is_module(node.value)]
        if "import_module(" in source:
            found.append(f"{_rel(path)}: importlib.import_module")
    assert found == []
