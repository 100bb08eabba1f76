"""helm lint, helm template with the example values, a wrong value refused by
values.schema.json, and every rendered object valid against its schema: the Kubernetes API's
(kubernetes-validate) and, for the Strimzi and CloudNativePG objects, helm/crd-schemas."""

from __future__ import annotations

import json

import jsonschema
import kubernetes_validate
import pytest

from tests.deploy.chart import (ALL_ON, CHART, CRD_SCHEMAS, KUBERNETES_VERSION, VALUES, helm,
                                render)

RENDERS = {"defaults": (None, ()), "dev": ("dev", ()), "production": ("production", ()),
           "every service": ("production", ALL_ON),
           "kafka mtls": ("production", ("kafka.sasl.enabled=false",
                                         "kafka.tls.clientCertificate=true")),
           "kafka scram without tls": ("production", ("kafka.tls.enabled=false",)),
           "existing servers": (None, ("database.create=false", "database.host=pg.example",
                                       "kafka.create=false", "kafka.bootstrapServers=k1:9092",
                                       "networkPolicy.databaseCIDRs={10.1.0.0/24}",
                                       "networkPolicy.kafkaCIDRs={10.2.0.0/24}"))}


def test_helm_lint_passes_with_every_example_values_file():
    for values in (None, "dev", "production"):
        args = ["lint", str(CHART)] + (["-f", str(VALUES / f"{values}.yaml")] if values else [])
        done = helm(*args)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("wrong, message", [
    ("image.tag=latest", "/image/tag"),
    ("environment=staging", "/environment"),
    ("services.journal.port=80", "/services/journal/port"),
    ("database.sslMode=off", "/database/sslMode"),
    ("kafka.minInsyncReplicas=0", "/kafka/minInsyncReplicas"),
    ("services.journal.config.EHR_JWKS=https://issuer.example/jwks", "EHR_JWKS"),
    ("services.journal.existingSecret=Not_A_Name", "/services/journal/existingSecret"),
    ("serviceDefaults.resources.limits.memory=lots", "/serviceDefaults/resources/limits/memory"),
    ("services.journal.replicas=-1", "/services/journal/replicas"),
])
def test_a_wrong_value_fails_on_the_schema_naming_it(wrong, message):
    done = helm("template", "ehr", str(CHART), "-f", str(VALUES / "production.yaml"),
                "--set", wrong)
    assert done.returncode != 0
    assert "don't meet the specifications of the schema" in done.stderr
    assert message in done.stderr, done.stderr


def test_a_misspelt_key_fails_on_the_schema(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kafka:\n  minInSyncReplicas: 2\n")
    done = helm("template", "ehr", str(CHART), "-f", str(bad))
    assert done.returncode != 0 and "minInSyncReplicas" in done.stderr, done.stderr


def _crd_schema(doc: dict) -> dict | None:
    group, _, version = doc["apiVersion"].rpartition("/")
    path = CRD_SCHEMAS / f"{group}_{version}_{doc['kind']}.json"
    return json.loads(path.read_text()) if path.exists() else None


@pytest.mark.parametrize("case", list(RENDERS))
def test_every_rendered_object_is_valid_against_its_schema(case):
    values, sets = RENDERS[case]
    docs = render(values, sets)
    assert docs
    for doc in docs:
        where = f"{doc['kind']} {doc['metadata']['name']}"
        if doc["apiVersion"].split("/")[0].endswith((".strimzi.io", ".cnpg.io")):
            schema = _crd_schema(doc)
            assert schema is not None, f"no schema in helm/crd-schemas for {where}"
            errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=str)
            assert not errors, f"{where}: {[e.message for e in errors]}"
        else:
            try:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{where}: {exc.message} at {list(exc.path)}")


def test_the_crd_schemas_catch_a_wrong_object():
    """The vendored shape checks are not empty: a misspelt or wrongly typed field fails."""
    topic = {"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic",
             "metadata": {"name": "journal.events"},
             "spec": {"partitions": "twelve", "replica": 3}}
    errors = list(jsonschema.Draft7Validator(_crd_schema(topic)).iter_errors(topic))
    assert {e.validator for e in errors} >= {"type", "additionalProperties"}
    cluster = {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
               "metadata": {"name": "pg"}, "spec": {"instances": 0}}
    errors = list(jsonschema.Draft7Validator(_crd_schema(cluster)).iter_errors(cluster))
    assert {e.validator for e in errors} >= {"minimum", "required"}


def test_the_fhir_base_must_be_an_enabled_api():
    for service, message in (("nosuch", 'no service "nosuch" in services'),
                             ("consent", '"consent" is not an enabled API')):
        # the APIs that call consent off too (a call to a disabled service fails first)
        done = helm("template", "ehr", str(CHART), "--set", f"ingress.fhir.baseService={service}",
                    "--set", "services.consent.enabled=false",
                    "--set", "services.citizen.enabled=false",
                    "--set", "services.workspace.enabled=false")
        assert done.returncode != 0 and message in done.stderr, done.stderr
