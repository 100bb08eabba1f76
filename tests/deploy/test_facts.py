"""The chart cannot drift from the code: its services, ports, projections and FHIR types are
the manifests' (``ehr chart facts``), its KafkaTopics are the topic catalogue, and its Ingress
routes FHIR by the same map a gateway uses (cli/fhir_routes.py)."""

from __future__ import annotations

import json

import pytest

from cli.deploy import TOPICS_FILE, kafka_topics
from cli.fhir_routes import fhir_routes
from cli.manifests import MANIFESTS
from libs.events.topics import all_topics
from tests.deploy.chart import (ALL_ON, chart_values, dns, facts, named, of_kind, pod_spec,
                                render)

FACTS = facts()
VALUES = chart_values()


@pytest.mark.parametrize("name", sorted(FACTS))
def test_the_values_say_what_the_manifest_says(name):
    fix = "run `ehr chart facts` and copy its entry into helm/ehr/values.yaml"
    assert name in VALUES["services"], f"{name} has no entry in the chart's values; {fix}"
    entry, facts = VALUES["services"][name], FACTS[name]
    assert entry["enabled"] is True, f"{name} exists: enable it in the chart's values"
    assert entry["kind"] == facts["kind"], fix
    if facts["kind"] == "api":
        assert entry["port"] == facts["port"], fix
        assert sorted(entry["fhirTypes"]) == facts["fhirTypes"], fix
    grouped = [p for group in entry["projectionGroups"].values() for p in group]
    assert sorted(grouped) == facts["projections"], f"{name}'s projection groups: {fix}"
    worker = entry.get("streamWorker", {})
    assert (worker["args"] if worker.get("enabled") else []) == facts["streamWorker"], fix


def test_a_service_without_a_manifest_is_disabled():
    for name, entry in VALUES["services"].items():
        if name not in FACTS:
            assert entry["enabled"] is False, f"{name} has no manifest in cli/manifests.py"


@pytest.mark.parametrize("name", sorted(FACTS))
def test_production_renders_every_service_with_its_relay_projections_and_migrations(name):
    docs = render("production")
    entry, obj = VALUES["services"][name], f"ehr-{dns(name)}"
    if FACTS[name]["kind"] == "api":
        api = pod_spec(named(docs, "Deployment", obj))["containers"][0]
        assert api["args"][:3] == ["run", "api", name]
        assert named(docs, "HorizontalPodAutoscaler", obj)
        assert named(docs, "PodDisruptionBudget", obj)
    if entry.get("streamWorker", {}).get("enabled"):
        worker = named(docs, "StatefulSet", f"{obj}-worker")
        assert worker["spec"]["volumeClaimTemplates"]
        assert pod_spec(worker)["containers"][0]["args"] == entry["streamWorker"]["args"]
    relay = named(docs, "Deployment", f"{obj}-relay")
    assert relay["spec"]["replicas"] == 2
    assert pod_spec(relay)["containers"][0]["args"][:3] == ["run", "relay", name]
    ran = []
    for group in entry["projectionGroups"]:
        args = pod_spec(named(docs, "Deployment", f"{obj}-projections-{group}"))[
            "containers"][0]["args"]
        assert args[:3] == ["run", "projections", name]
        ran += args[4::2]
    assert sorted(ran) == FACTS[name]["projections"]
    job = named(docs, "Job", f"{obj}-migrate")
    assert "pre-upgrade" in job["metadata"]["annotations"]["helm.sh/hook"]
    assert named(docs, "ConfigMap", obj)


def test_the_services_still_being_built_render_when_enabled():
    docs = render("production", ALL_ON)
    for name, entry in VALUES["services"].items():
        if entry["kind"] == "api":
            assert named(docs, "Deployment", f"ehr-{dns(name)}")
        if entry.get("streamWorker", {}).get("enabled"):
            assert named(docs, "StatefulSet", f"ehr-{dns(name)}-worker")


@pytest.mark.parametrize("values", ["dev", "production"])
def test_the_kafka_topics_are_the_topic_catalogue(values):
    docs = render(values)
    cluster = named(docs, "Kafka", "ehr-kafka")["spec"]["kafka"]["config"]
    rf, isr = cluster["default.replication.factor"], cluster["min.insync.replicas"]
    rendered = {t["spec"]["topicName"]: t["spec"] for t in of_kind(docs, "KafkaTopic")}
    catalogue = {t.name: t for t in all_topics()}
    assert set(rendered) == set(catalogue)
    for name, spec in rendered.items():
        assert spec["partitions"] == catalogue[name].partitions, name
        assert spec["replicas"] == rf, name
        assert spec["config"] == catalogue[name].all_configs(isr), name
    written = json.loads(TOPICS_FILE.read_text())
    assert written == kafka_topics(), "the catalogue changed: run `ehr chart topics --write`"


def test_production_kafka_is_three_kraft_brokers_with_replication_three_and_isr_two():
    docs = render("production")
    kafka = named(docs, "Kafka", "ehr-kafka")
    assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
    config = kafka["spec"]["kafka"]["config"]
    assert (config["default.replication.factor"], config["min.insync.replicas"]) == (3, 2)
    assert config["auto.create.topics.enable"] is False
    pool = named(docs, "KafkaNodePool", "ehr-kafka-nodes")["spec"]
    assert pool["replicas"] == 3 and set(pool["roles"]) == {"controller", "broker"}


def test_the_ingress_routes_fhir_by_the_gateway_map():
    docs = render("production")
    rules = named(docs, "Ingress", "ehr")["spec"]["rules"]
    fhir = next(r for r in rules if r["host"] == VALUES_PROD_HOST)
    routed = {p["path"].removeprefix("/fhir/"): p["backend"]["service"]["name"]
              for p in fhir["http"]["paths"] if p["path"].startswith("/fhir/")}
    assert routed == {t: f"ehr-{dns(s)}" for t, s in fhir_routes(MANIFESTS).items()}
    base = [p for p in fhir["http"]["paths"] if p["path"] == "/fhir"]
    assert base and base[0]["backend"]["service"]["name"] == "ehr-journal"


def test_the_ingress_gives_each_site_its_host_and_every_host_its_tls():
    """The portal, the analysts' dashboard, the clinicians' workspace and the welfare service
    (alert board, device ingestion) each get their host, served by their own service."""
    docs = render("production")
    spec = named(docs, "Ingress", "ehr")["spec"]
    sites = {r["host"]: r["http"]["paths"][0]["backend"]["service"]["name"]
             for r in spec["rules"] if r["host"] != VALUES_PROD_HOST}
    assert sites == {"minside.ehr.kommune.example": "ehr-citizen",
                     "statistikk.ehr.kommune.example": "ehr-registry-export",
                     "arbeidsflate.ehr.kommune.example": "ehr-workspace",
                     "velferd.ehr.kommune.example": "ehr-welfare"}
    assert {h for t in spec["tls"] for h in t["hosts"]} == set(sites) | {VALUES_PROD_HOST}


def test_every_service_has_one_database_role_owning_only_its_own_schema():
    docs = render("production")
    cluster = named(docs, "Cluster", "ehr-pg")["spec"]
    roles = {r["name"]: r for r in cluster["managed"]["roles"]}
    assert set(roles) == {VALUES["services"][n].get("schema", n) for n in FACTS}
    sql = cluster["bootstrap"]["initdb"]["postInitApplicationSQL"]
    assert "REVOKE CREATE ON SCHEMA public FROM PUBLIC" in sql
    for role, spec in roles.items():
        assert spec["login"] and not spec.get("superuser") and not spec.get("createdb")
        assert f"CREATE SCHEMA {role} AUTHORIZATION {role}" in sql
        assert spec["passwordSecret"]["name"] == VALUES["services"][role]["existingSecret"]


VALUES_PROD_HOST = "fhir.ehr.kommune.example"
