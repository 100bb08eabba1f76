"""One API calling another with the user's token (services.<name>.calls): the chart points the
caller's <service>_<peer>_url setting at the peer's in-cluster Service, its NetworkPolicies let
exactly these calls through, and a call to a service that is not there fails the render."""

from __future__ import annotations

import pytest

from cli.manifests import MANIFESTS
from tests.deploy.chart import (ALL_ON, WORKLOADS, chart_values, dns, facts, helm, named,
                                of_kind, pod_labels, render, selects)

VALUES = chart_values()
SETTINGS = {m.name: m.settings for m in MANIFESTS}
CALLS = {name: entry.get("calls", []) for name, entry in VALUES["services"].items()}
PORTS = {name: entry.get("port") for name, entry in VALUES["services"].items()}
CASES = {"production": ("production", ()), "dev": ("dev", ()),
         "every service": ("production", ALL_ON),
         "without the workspace": ("production", ("services.workspace.enabled=false",))}


def test_the_chart_says_who_calls_whom_as_the_settings_do():
    """`ehr chart facts` reads the calls from the <service>_<peer>_url settings."""
    for name, entry in facts().items():
        assert sorted(CALLS.get(name, [])) == entry["calls"], \
            f"services.{name}.calls: run `ehr chart facts` and copy its calls"
    assert facts()["workspace"]["calls"] == ["consent", "journal", "medication"]
    assert facts()["citizen"]["calls"] == ["consent", "journal"]


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_every_url_setting_naming_a_peer_is_a_call_the_facts_see(name):
    """A URL setting that names another service must be spelled <service>_<peer>_url, or the
    facts (and so the chart) would miss the call and leave it at 127.0.0.1 in a cluster."""
    for field in SETTINGS[name].model_fields:
        if not field.endswith("_url") or not field.startswith(f"{name}_"):
            continue
        words = field.removeprefix(f"{name}_").removesuffix("_url")
        named_peers = [p for p in SETTINGS if p != name and p in words]
        for peer in named_peers:
            assert words == peer, f"{name}.{field} names {peer}: call it {name}_{peer}_url"
            assert peer in facts()[name]["calls"], (name, field)


def _env_read_by_settings(service: str, data: dict[str, str],
                          monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The caller's peer URLs as its settings class reads them from the ConfigMap's data."""
    for key, value in data.items():
        monkeypatch.setenv(key, value)
    settings = SETTINGS[service]()
    return {peer: getattr(settings, f"{service}_{peer}_url") for peer in CALLS[service]}


@pytest.mark.parametrize("caller", sorted(n for n in CALLS if CALLS[n]))
def test_the_caller_reads_each_peer_at_its_in_cluster_service(caller, monkeypatch):
    docs = render("production")
    data = named(docs, "ConfigMap", f"ehr-{dns(caller)}")["data"]
    services = {s["metadata"]["name"]: s for s in of_kind(docs, "Service")}
    urls = _env_read_by_settings(caller, data, monkeypatch)
    for peer, url in urls.items():
        port = services[f"ehr-{dns(peer)}"]["spec"]["ports"][0]["port"]
        assert url == f"http://ehr-{dns(peer)}:{port}", (caller, peer)
        assert port == PORTS[peer]


def test_an_operator_may_point_a_call_elsewhere_in_the_config():
    url = "http://consent.other.svc:8003"
    docs = render("production", (f"services.citizen.config.EHR_CITIZEN_CONSENT_URL={url}",))
    data = named(docs, "ConfigMap", "ehr-citizen")["data"]
    assert data["EHR_CITIZEN_CONSENT_URL"] == url
    assert data["EHR_CITIZEN_JOURNAL_URL"] == "http://ehr-journal:8004"


def _peer_matches(peer: dict, labels: dict) -> bool:
    """A rule's peer selects a pod of this release (same namespace): a podSelector alone. A
    namespaceSelector (the ingress controller's, kube-dns') or an ipBlock is somewhere else."""
    return set(peer) == {"podSelector"} and selects(peer["podSelector"], labels)


def _allows(rules: list[dict], side: str, labels: dict, port: int) -> bool:
    return any((not rule.get("ports") or any(p["port"] == port for p in rule["ports"]))
               and any(_peer_matches(peer, labels) for peer in rule.get(side, []))
               for rule in rules)


def allowed_paths(docs) -> set[tuple[str, str]]:
    """Every (from, to) between two pods of the release that both the sender's egress and the
    receiver's ingress policies let through on the receiver's port."""
    policies = of_kind(docs, "NetworkPolicy")
    pods = [pod_labels(w) for w in docs if w["kind"] in WORKLOADS]

    def rules(labels, kind, key):
        return [r for p in policies if kind in p["spec"]["policyTypes"]
                and selects(p["spec"]["podSelector"], labels) for r in p["spec"].get(key, [])]

    paths = set()
    for src in pods:
        for dst in pods:
            if src is dst or dst["app.kubernetes.io/component"] != "api":
                continue
            port = PORTS[dst["app.kubernetes.io/name"]]
            if _allows(rules(src, "Egress", "egress"), "to", dst, port) and \
                    _allows(rules(dst, "Ingress", "ingress"), "from", src, port):
                paths.add((f"{src['app.kubernetes.io/name']}/{src['app.kubernetes.io/component']}",
                           dst["app.kubernetes.io/name"]))
    return paths


@pytest.mark.parametrize("case", list(CASES))
def test_the_policies_let_through_exactly_the_calls(case):
    values, sets = CASES[case]
    docs = render(values, sets)
    apis = {pod_labels(d)["app.kubernetes.io/name"] for d in of_kind(docs, "Deployment")
            if pod_labels(d).get("app.kubernetes.io/component") == "api"}
    expected = {(f"{caller}/api", peer) for caller in apis for peer in CALLS[caller]}
    assert ("citizen/api", "journal") in expected   # the citizen is on in every case
    assert allowed_paths(docs) == expected
    # and on the peer's port only: a rule without ports would open every port
    for p in of_kind(docs, "NetworkPolicy"):
        if p["metadata"]["name"].endswith(("-calls", "-callers")):
            rules = p["spec"].get("egress", []) + p["spec"].get("ingress", [])
            assert rules and all(r.get("ports") for r in rules), p["metadata"]["name"]


def test_the_path_check_sees_a_policy_that_lets_more_through():
    """The check above can fail: a wider policy (any API pod to any API pod) is caught."""
    docs = render("production")
    api = {"matchLabels": {"app.kubernetes.io/component": "api"}}
    wide = {"kind": "NetworkPolicy", "metadata": {"name": "wide"},
            "spec": {"podSelector": api, "policyTypes": ["Ingress", "Egress"],
                     "ingress": [{"from": [{"podSelector": api}]}],
                     "egress": [{"to": [{"podSelector": api}]}]}}
    assert ("journal/api", "consent") in allowed_paths((*docs, wide))
    assert ("journal/api", "consent") not in allowed_paths(docs)


@pytest.mark.parametrize(("sets", "message"), [
    (("services.journal.enabled=false",),
     "services.citizen.calls: journal is disabled (services.journal.enabled: false)"),
    (("services.registry_export.kind=worker", "services.citizen.calls={registry_export}"),
     "services.citizen.calls: registry_export has no HTTP API (kind: worker)"),
    (("services.citizen.calls={journal,nosuch}",),
     'services.citizen.calls: there is no service "nosuch"'),
    (("services.citizen.calls={citizen}",), "services.citizen.calls names citizen itself"),
])
def test_a_call_to_a_service_that_is_not_an_enabled_api_fails_the_render(sets, message):
    args = ["template", "ehr", "helm/ehr", "--namespace", "ehr"]
    for s in sets:
        args += ["--set", s]
    done = helm(*args)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr


@pytest.mark.parametrize("name", sorted(n for n in SETTINGS
                                        if f"{n}_oidc_issuer_url" in SETTINGS[n].model_fields))
def test_production_gives_each_signing_in_service_its_public_address_and_issuer(name):
    """Production refuses to start such a service without its issuer; the redirect URI is
    built from its public address, which must be the browser's (https), not localhost."""
    data = named(render("production"), "ConfigMap", f"ehr-{dns(name)}")["data"]
    read = SETTINGS[name](**{k.removeprefix("EHR_").lower(): v for k, v in data.items()
                             if k.startswith(f"EHR_{name.upper()}_")})
    assert (getattr(read, f"{name}_oidc_issuer_url") or "").startswith("https://"), \
        f"set EHR_{name.upper()}_OIDC_ISSUER_URL in services.{name}.config"
    assert getattr(read, f"{name}_public_url").startswith("https://"), \
        f"set EHR_{name.upper()}_PUBLIC_URL in services.{name}.config"
