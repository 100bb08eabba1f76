"""The flame graphs kept in ``bench/profiles`` are read by anyone, on any machine: they name no
path of the machine they were made on (a process's command line, py-spy's output file)."""

from __future__ import annotations

import re
import tempfile

from bench.citizen_profile import PROFILES, without_machine_paths
from libs.config import REPO_ROOT

ABSOLUTE = re.compile(r"(?:&quot;|\"|--output |\()/(?:work|root|home|tmp|opt|usr/local|srv)/")


def test_a_graph_is_kept_with_paths_relative_to_the_repository():
    tmp = tempfile.gettempdir()
    svg = (f'<title>process 7:&quot;{REPO_ROOT}/.venv/bin/python -m bench.servers serve journal'
           f'</title><text>py-spy record --output {tmp}/fhir-profile-x1_y/read-t.svg</text>'
           f"<title>read ({REPO_ROOT}/libs/web/fhir/reads.py:368)</title>")
    kept = without_machine_paths(svg)
    assert str(REPO_ROOT) not in kept and tmp + "/" not in kept
    assert '&quot;.venv/bin/python -m bench.servers' in kept
    assert "--output read-t.svg" in kept and "(libs/web/fhir/reads.py:368)" in kept


def test_no_kept_graph_names_a_machine_path():
    graphs = sorted(PROFILES.glob("*.svg"))
    assert graphs
    assert [g.name for g in graphs if ABSOLUTE.search(g.read_text())] == []
