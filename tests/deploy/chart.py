"""Rendering helm/ehr with the helm that `make` builds into .cache/bin (no cluster needed)."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "ehr"
VALUES = REPO / "helm" / "values"
CRD_SCHEMAS = REPO / "helm" / "crd-schemas"
HELM = REPO / ".cache" / "bin" / "helm"
KUBERNETES_VERSION = "1.37.0"
WORKLOADS = ("Deployment", "StatefulSet", "Job")
# every service enabled, the ones still being built too
ALL_ON = tuple(f"services.{name}.enabled=true" for name in
               yaml.safe_load((CHART / "values.yaml").read_text())["services"])


def helm(*args: str) -> subprocess.CompletedProcess:
    assert HELM.exists(), "helm is missing: `make test` builds it (`make helm`)"
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=120,
                          cwd=REPO)


@lru_cache
def render(values: str | None = None, sets: tuple[str, ...] = ()) -> tuple[dict, ...]:
    """The chart rendered as `helm template ehr` would install it (release name ehr)."""
    args = ["template", "ehr", str(CHART), "--namespace", "ehr"]
    if values:
        args += ["-f", str(VALUES / f"{values}.yaml")]
    for s in sets:
        args += ["--set", s]
    done = helm(*args)
    assert done.returncode == 0, done.stderr
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d)


def of_kind(docs, kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def named(docs, kind: str, name: str) -> dict:
    found = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    assert found, f"no {kind} {name}; have {[d['metadata']['name'] for d in of_kind(docs, kind)]}"
    return found[0]


def dns(service: str) -> str:
    """A service's name in the names of its Kubernetes objects (registry_export ->
    registry-export)."""
    return service.replace("_", "-")


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def pod_labels(workload: dict) -> dict:
    return workload["spec"]["template"]["metadata"].get("labels", {})


def selects(selector: dict, labels: dict) -> bool:
    """Whether a label selector (matchLabels, matchExpressions) selects these labels."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        present, value = expr["key"] in labels, labels.get(expr["key"])
        if expr["operator"] == "In" and value not in expr["values"]:
            return False
        if expr["operator"] == "NotIn" and present and value in expr["values"]:
            return False
        if expr["operator"] == "Exists" and not present:
            return False
        if expr["operator"] == "DoesNotExist" and present:
            return False
    return True


def chart_values() -> dict:
    return yaml.safe_load((CHART / "values.yaml").read_text())


@lru_cache
def facts() -> dict:
    """`ehr chart facts` of this system's services (it builds each app: computed once)."""
    from cli.deploy import chart_facts  # noqa: PLC0415
    from cli.manifests import MANIFESTS  # noqa: PLC0415

    return chart_facts(MANIFESTS)
