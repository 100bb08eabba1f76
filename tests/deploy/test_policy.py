"""Hardening over the rendered YAML, for every example values file and with every service on:
Pod Security "restricted", limits, probes, no secret in the output, NetworkPolicies for every
pod."""

from __future__ import annotations

import re

import pytest

from tests.deploy.chart import (ALL_ON, WORKLOADS, of_kind, pod_labels, pod_spec, render,
                                selects)

CASES = {"dev": ("dev", ()), "production": ("production", ()),
         "every service": ("production", ALL_ON)}
SECRETISH = re.compile(r"PASSWORD|SECRET|TOKEN|JWKS|HMAC|_KEY$|CREDENTIAL", re.I)


def workloads(docs):
    return [d for d in docs if d["kind"] in WORKLOADS]


def containers(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec["containers"]


@pytest.fixture(params=list(CASES))
def docs(request):
    values, sets = CASES[request.param]
    return render(values, sets)


def test_every_container_is_non_root_read_only_without_capabilities_and_limited(docs):
    assert workloads(docs)
    for w in workloads(docs):
        spec, name = pod_spec(w), w["metadata"]["name"]
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] >= 1000, name
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        for c in containers(spec):
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"], name
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", name
            limits, requests = c["resources"]["limits"], c["resources"]["requests"]
            assert {"cpu", "memory"} <= set(limits) and {"cpu", "memory"} <= set(requests), name
            assert not c.get("image", "").endswith(":latest"), name


def test_every_long_running_pod_has_readiness_and_liveness_probes(docs):
    running = [w for w in workloads(docs) if w["kind"] != "Job"]
    assert running
    for w in running:
        for c in pod_spec(w)["containers"]:
            assert "readinessProbe" in c and "livenessProbe" in c, w["metadata"]["name"]


def test_liveness_never_asks_another_system_and_readiness_asks_postgres_and_kafka(docs):
    for w in workloads(docs):
        if w["kind"] == "Job" or "otel-collector" in w["metadata"]["name"]:
            continue
        c = pod_spec(w)["containers"][0]
        live = c["livenessProbe"]
        assert live.get("httpGet", {}).get("path") == "/health" or \
            live["exec"]["command"] == ["python", "-m", "cli.probe", "alive"]
        assert c["readinessProbe"]["exec"]["command"] == ["python", "-m", "cli.probe", "ready"]


def mounted_secret_files(workload: dict) -> set[str]:
    """The paths of the files a workload's containers see from Secret volumes."""
    spec = pod_spec(workload)
    secrets = {v["name"]: v["secret"] for v in spec.get("volumes", []) if "secret" in v}
    return {f"{m['mountPath']}/{item['path']}" for c in containers(spec)
            for m in c.get("volumeMounts", []) if m["name"] in secrets
            for item in secrets[m["name"]].get("items", [])}


def test_no_secret_value_is_written_into_the_output(docs):
    assert not of_kind(docs, "Secret"), "the chart must not create Secrets with values"
    # a setting named like a secret may only name a file mounted from a Secret (*_FILE)
    mounted = set().union(*(mounted_secret_files(w) for w in workloads(docs)))
    for d in of_kind(docs, "ConfigMap"):
        data = d.get("data", {})
        bad = [k for k in data if SECRETISH.search(k)
               and not (k.endswith("_FILE") and data[k] in mounted)]
        assert not bad, f"{d['metadata']['name']} holds {bad}"
    for w in workloads(docs):
        for c in containers(pod_spec(w)):
            for env in c.get("env", []):
                if SECRETISH.search(env["name"]):
                    assert "valueFrom" in env and "value" not in env, (w["metadata"]["name"], env)
                if env["name"] == "DATABASE_URL":   # only references: $(EHR_DB_PASSWORD)
                    assert "$(EHR_DB_PASSWORD)" in env["value"]


def test_every_pod_is_covered_by_a_policy_denying_ingress_and_egress(docs):
    policies = of_kind(docs, "NetworkPolicy")
    for w in workloads(docs):
        covering = [p for p in policies if selects(p["spec"]["podSelector"], pod_labels(w))]
        types = {t for p in covering for t in p["spec"]["policyTypes"]}
        assert types == {"Ingress", "Egress"}, w["metadata"]["name"]


def test_only_apis_and_the_collector_accept_connections(docs):
    for w in workloads(docs):
        labels = pod_labels(w)
        ingress = [rule for p in of_kind(docs, "NetworkPolicy")
                   if selects(p["spec"]["podSelector"], labels)
                   for rule in p["spec"].get("ingress", [])]
        if labels["app.kubernetes.io/component"] in ("api", "otel-collector"):
            assert ingress, w["metadata"]["name"]
        else:
            assert not ingress, f"{w['metadata']['name']} accepts connections"


def test_the_selector_matching_of_this_test_is_sound():
    sel = {"matchLabels": {"a": "1"}, "matchExpressions": [
        {"key": "c", "operator": "NotIn", "values": ["x"]}]}
    assert selects(sel, {"a": "1", "c": "y"})
    assert not selects(sel, {"a": "1", "c": "x"})
    assert not selects(sel, {"a": "2"})
