"""A service process must be able to decode every topic it reads. In tests both services share
one process (and one registry), which hides a missing import; a fresh interpreter does not."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
from libs.config import Settings
from libs.web.service import Options
from libs.events.registry import REGISTRY
from services.{service}.app import create_app

app = create_app(Settings(environment="test"), Options(telemetry=False))
known = {{t.split(".")[0] for t in REGISTRY.payloads}}
print(",".join(sorted(known)))
"""


def _known_prefixes(service: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", CHECK.format(service=service)], check=True,
                         capture_output=True, text=True, timeout=60)
    return set(out.stdout.strip().split(","))


def test_each_service_process_knows_the_event_types_of_the_topics_it_reads():
    # consent reads consent.events, audit.access and (the bridge) journal.events
    assert {"consent", "audit", "journal"} <= _known_prefixes("consent")
    # the journal reads journal.events and consent.events (access facts)
    assert {"consent", "journal"} <= _known_prefixes("journal")
    # the medication service reads medication.events, consent.events and journal.events (CAVE)
    assert {"consent", "journal", "medication"} <= _known_prefixes("medication")
