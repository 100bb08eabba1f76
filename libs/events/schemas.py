"""The public contract of the topics: JSON Schema per event and an AsyncAPI 3 document.

``ehr schemas export`` writes them under ``schemas/``; a test fails when the checked-in files
differ from what the code would write, so the contract never drifts silently.
"""

from __future__ import annotations

import json
from pathlib import Path

from libs.events.envelope import Envelope
from libs.events.registry import EventPayload, Registry
from libs.events.topics import CATALOGUE, TopicSpec, all_topics



def _dump(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _camel(topic: str) -> str:
    parts = topic.replace("-", ".").split(".")
    return parts[0] + "".join(p.capitalize() for p in parts[1:])


def event_types(registry: Registry) -> list[type[EventPayload]]:
    """The events of ``registry`` (every service's, merged by the ``ehr`` command from the
    manifests) that travel on a public topic."""
    public = {t.name for t in CATALOGUE}
    return sorted((c for c in registry.payloads.values() if c.topic in public),
                  key=lambda c: c.event_type)


def render(registry: Registry) -> dict[str, str]:
    """Every file of the contract: relative path -> content."""
    files: dict[str, str] = {}
    envelope = Envelope.model_json_schema()
    files["events/Envelope.schema.json"] = _dump(envelope)
    types = event_types(registry)
    for cls in types:
        schema = cls.model_json_schema()
        schema["title"] = cls.event_type
        schema["x-schema-version"] = cls.schema_version
        schema["x-topic"] = cls.topic
        files[f"events/{cls.event_type}.v{cls.schema_version}.schema.json"] = _dump(schema)
    files["asyncapi.json"] = _dump(asyncapi(types, envelope))
    return files


def _hoist_defs(name: str, schema: dict) -> dict[str, dict]:
    """``schema`` with its ``$defs`` moved out: pydantic's ``#/$defs/X`` resolve against the
    root of the document, which in AsyncAPI is not the schema; they become
    ``#/components/schemas/X`` beside it. Returns the components: the schema's defs and itself
    (under ``name``)."""

    def rewrite(node):
        if isinstance(node, dict):
            return {k: (f"#/components/schemas/{v[len('#/$defs/'):]}"
                        if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/")
                        else rewrite(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    body = {k: v for k, v in schema.items() if k != "$defs"}
    components = {name: rewrite(d) for name, d in schema.get("$defs", {}).items()}
    components[name] = rewrite(body)
    return components


def asyncapi(types: list[type[EventPayload]], envelope: dict) -> dict:
    channels, operations, messages = {}, {}, {}
    messages["Envelope"] = {
        "name": "Envelope", "title": "Event envelope",
        "summary": "Any event; data holds the payload of its type and schema_version.",
        "contentType": "application/json",
        "headers": {"type": "object", "properties": {
            "traceparent": {"type": "string", "description": "W3C trace context"},
            "tracestate": {"type": "string"}}},
        "payload": {"$ref": "#/components/schemas/Envelope"},
    }
    for spec in all_topics():
        cid = _camel(spec.name)
        mine = [c for c in types if c.topic == spec.name]
        refs = {"Envelope": {"$ref": "#/components/messages/Envelope"}}
        for cls in mine:
            name = cls.event_type.replace(".", "_")
            messages[name] = {
                "name": cls.event_type, "contentType": "application/json",
                "payload": {"allOf": [
                    {"$ref": "#/components/schemas/Envelope"},
                    {"type": "object", "properties": {
                        "type": {"const": cls.event_type},
                        "schema_version": {"const": cls.schema_version},
                        "data": {"$ref": f"./events/{cls.event_type}.v{cls.schema_version}"
                                         ".schema.json"}}}]},
            }
            refs[name] = {"$ref": f"#/components/messages/{name}"}
        channels[cid] = {
            "address": spec.name, "description": spec.description, "messages": refs,
            "bindings": {"kafka": {"topic": spec.name, "partitions": spec.partitions,
                                   "topicConfiguration": _topic_config(spec),
                                   "bindingVersion": "0.5.0"}},
        }
        operations[f"receive_{cid}"] = {
            "action": "receive", "channel": {"$ref": f"#/channels/{cid}"},
            "summary": f"Subscribe to {spec.name}. Key: internal patient id (UUID); "
                       "dedupe by event_id (delivery is at least once).",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "EHR event topics", "version": "1.0.0",
                 "description": "Every fact the record services publish. Events are immutable, "
                                "keyed by the internal patient id, delivered at least once, and "
                                "kept forever. National id numbers never appear in keys or "
                                "headers."},
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": _hoist_defs("Envelope", envelope), "messages": messages},
    }


def _topic_config(spec: TopicSpec) -> dict:
    cfg = spec.all_configs(min_insync_replicas=2)
    return {"cleanup.policy": [cfg["cleanup.policy"]], "retention.ms": int(cfg["retention.ms"]),
            "retention.bytes": int(cfg["retention.bytes"])}


def export(out_dir: Path, registry: Registry) -> list[Path]:
    files = render(registry)
    written = []
    (out_dir / "events").mkdir(parents=True, exist_ok=True)
    for old in (out_dir / "events").glob("*.json"):
        if f"events/{old.name}" not in files:
            old.unlink()
    for rel, content in files.items():
        path = out_dir / rel
        path.write_text(content)
        written.append(path)
    return written


def stale(out_dir: Path, registry: Registry) -> list[str]:
    """Files that differ from what export would write (missing, changed or extra)."""
    files = render(registry)
    problems = []
    for rel, content in files.items():
        path = out_dir / rel
        if not path.exists():
            problems.append(f"missing {rel}")
        elif path.read_text() != content:
            problems.append(f"changed {rel}")
    if (out_dir / "events").exists():
        for p in (out_dir / "events").glob("*.json"):
            if f"events/{p.name}" not in files:
                problems.append(f"extra events/{p.name}")
    return problems
