"""The Strimzi and CloudNativePG objects the chart renders, against validators generated from
those projects' own CRD schemas (npm: @kubernetes-models/strimzi-kafka-operator and
@kubernetes-models/cloudnative-pg, pinned in helm/crd-validators/package-lock.json and installed
by `make crd-validators` into .cache/). helm/crd-schemas stays as the stricter check of the
fields the chart writes (no unknown field); this one is the projects' word."""

from __future__ import annotations

import json
import shutil
import subprocess

from tests.deploy.chart import REPO, render
from tests.deploy.test_render import RENDERS

SCRIPT = REPO / "helm" / "crd-validators" / "validate.mjs"
MODULES = REPO / ".cache" / "crd-validators" / "node_modules"
GROUPS = ("kafka.strimzi.io", "postgresql.cnpg.io")


def validate(docs: list[dict]) -> list[dict]:
    assert (MODULES / "@kubernetes-models").is_dir(), \
        "the CRD validators are missing: run `make crd-validators`"
    done = subprocess.run([shutil.which("node") or "node", str(SCRIPT), str(MODULES)],
                          input=json.dumps(docs), capture_output=True, text=True, timeout=120,
                          cwd=REPO)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def operator_objects() -> list[dict]:
    seen, found = set(), []
    for values, sets in RENDERS.values():
        for doc in render(values, sets):
            key = json.dumps(doc, sort_keys=True)
            if doc["apiVersion"].split("/")[0] in GROUPS and key not in seen:
                seen.add(key)
                found.append(doc)
    return found


def test_every_rendered_operator_object_passes_its_projects_crd_schema():
    docs = operator_objects()
    kinds = {d["kind"] for d in docs}
    assert {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "Cluster"} <= kinds
    results = validate(docs)
    assert len(results) == len(docs)
    assert [r for r in results if r["errors"]] == []


def test_the_validators_refuse_a_wrong_object():
    wrong = [
        {"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic",
         "metadata": {"name": "journal.events"}, "spec": {"partitions": "twelve"}},
        {"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaUser",
         "metadata": {"name": "ehr-journal-kafka"},
         "spec": {"authentication": {"type": "kerberos"}}},
        {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": {"name": "pg"},
         "spec": {"instances": "three"}},
    ]
    results = validate(wrong)
    assert [bool(r["errors"]) for r in results] == [True, True, True], results
    assert "partitions" in results[0]["errors"][0]
    assert "authentication" in results[1]["errors"][0]
