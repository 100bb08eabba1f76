"""The checked-in contract (schemas/) must be what the code would write."""

import json

from cli.manifests import registry
from libs.config import REPO_ROOT
from libs.events import schemas
from libs.events.registry import EventPayload, Registry, event
from libs.events.topics import all_topics


def test_checked_in_schemas_are_current():
    problems = schemas.stale(REPO_ROOT / "schemas", registry())
    assert problems == [], "run `ehr schemas export` and commit the result: " + "; ".join(problems)


def test_asyncapi_lists_every_catalogue_topic_and_the_envelope():
    doc = json.loads((REPO_ROOT / "schemas" / "asyncapi.json").read_text())
    assert doc["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == {t.name for t in all_topics()}
    env = doc["components"]["schemas"]["Envelope"]
    assert {"event_id", "patient_id", "traceparent", "data"} <= set(env["properties"])


def test_a_new_event_type_makes_the_checked_in_files_stale(tmp_path):
    reg = Registry()

    @event("journal.NoteSigned", version=2, registry=reg)
    class NoteSigned(EventPayload):
        note_id: str

    schemas.export(tmp_path, reg)
    assert schemas.stale(tmp_path, reg) == []
    written = json.loads((tmp_path / "events" / "journal.NoteSigned.v2.schema.json").read_text())
    assert written["x-topic"] == "journal.events" and "note_id" in written["properties"]
    assert "changed asyncapi.json" in schemas.stale(REPO_ROOT / "schemas", reg)
    assert "missing events/journal.NoteSigned.v2.schema.json" in schemas.stale(
        REPO_ROOT / "schemas", reg)


def test_test_only_events_never_leak_into_the_public_contract():
    import tests.support.bank as bank

    with_bank = registry().merged(Registry.of(bank))
    assert "bank.Deposited" in with_bank.payloads
    assert all(not c.event_type.startswith("bank.") for c in schemas.event_types(with_bank))
