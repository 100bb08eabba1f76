"""The chart points every Kafka client at a secured cluster (issue 16): the protocol and the
file paths in each service's ConfigMap, the cluster CA and the service's KafkaUser Secret
mounted as files, one Strimzi KafkaUser per service, and the settings the application reads."""

from __future__ import annotations

import pytest

from libs.config import Settings
from tests.deploy.chart import CHART, VALUES, WORKLOADS, helm, named, of_kind, pod_spec, render

TLS_SCRAM = ("production", ())          # the production example: SASL_SSL with SCRAM-SHA-512
MTLS = ("production", ("kafka.sasl.enabled=false", "kafka.tls.clientCertificate=true"))
EXISTING = (None, ("kafka.create=false", "kafka.bootstrapServers=k1.example:9093",
                   "kafka.tls.enabled=true", "kafka.tls.caSecret=corporate-kafka-ca",
                   "kafka.sasl.enabled=true", "kafka.sasl.mechanism=SCRAM-SHA-256",
                   "services.journal.kafkaUser.name=journal-app",
                   "services.journal.kafkaUser.secret=kafka-journal"))


def kafka_workloads(docs) -> list[dict]:
    """Every workload running the application (all of them use Kafka), not the collector."""
    return [w for w in docs if w["kind"] in WORKLOADS and w["kind"] != "Job"
            and "otel-collector" not in w["metadata"]["name"]]


def config_of(docs, workload: dict) -> dict[str, str]:
    container = pod_spec(workload)["containers"][0]
    maps = [ref["configMapRef"]["name"] for ref in container["envFrom"] if "configMapRef" in ref]
    return named(docs, "ConfigMap", maps[0])["data"]


def secret_files(workload: dict) -> dict[str, tuple[str, str]]:
    """Path in the container -> (Secret, key) of every file mounted from a Secret."""
    spec = pod_spec(workload)
    volumes = {v["name"]: v["secret"] for v in spec["volumes"] if "secret" in v}
    files = {}
    for mount in spec["containers"][0]["volumeMounts"]:
        secret = volumes.get(mount["name"])
        for item in (secret or {}).get("items", []):
            files[f"{mount['mountPath']}/{item['path']}"] = (secret["secretName"], item["key"])
    return files


def settings_from(config: dict[str, str], monkeypatch) -> Settings:
    """What libs/config.py makes of a ConfigMap's Kafka settings, read from the environment."""
    for key, value in config.items():
        if key.startswith("EHR_KAFKA_") or key == "KAFKA_BOOTSTRAP_SERVERS":
            monkeypatch.setenv(key, value)
    return Settings()


def test_production_clients_use_sasl_ssl_with_the_cluster_ca_and_their_own_kafka_user(
        monkeypatch):
    docs = render(*TLS_SCRAM)
    users = {u["metadata"]["name"]: u for u in of_kind(docs, "KafkaUser")}
    assert kafka_workloads(docs)
    for w in kafka_workloads(docs):
        config, files = config_of(docs, w), secret_files(w)
        service = pod_spec(w)["containers"][0]["envFrom"][0]["configMapRef"]["name"]
        assert config["KAFKA_BOOTSTRAP_SERVERS"] == "ehr-kafka-kafka-bootstrap:9093"
        security = settings_from(config, monkeypatch).kafka_security()
        assert (security.protocol, security.mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
        assert security.check_hostname
        assert files[str(security.ca_file)] == ("ehr-kafka-cluster-ca-cert", "ca.crt")
        user = security.username
        assert files[str(security.password_file)] == (user, "password")
        assert user == f"{service}-kafka", "each service authenticates as itself"
        assert users[user]["spec"]["authentication"] == {"type": "scram-sha-512"}
        assert users[user]["metadata"]["labels"]["strimzi.io/cluster"] == "ehr-kafka"
        assert security.password is None, "the password is a mounted file, never a value"


def test_the_created_cluster_has_a_tls_listener_with_scram():
    kafka = of_kind(render(*TLS_SCRAM), "Kafka")[0]
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    assert {k: v for k, v in listener.items() if k != "networkPolicyPeers"} == {
        "name": "tls", "port": 9093, "type": "internal", "tls": True,
        "authentication": {"type": "scram-sha-512"}}


def test_mutual_tls_mounts_the_kafka_users_certificate_and_key(monkeypatch):
    docs = render(*MTLS)
    assert of_kind(docs, "Kafka")[0]["spec"]["kafka"]["listeners"][0]["authentication"] == {
        "type": "tls"}
    users = {u["metadata"]["name"]: u for u in of_kind(docs, "KafkaUser")}
    for w in kafka_workloads(docs):
        config, files = config_of(docs, w), secret_files(w)
        security = settings_from(config, monkeypatch).kafka_security()
        assert security.protocol == "SSL" and security.username is None
        secret, _ = files[str(security.cert_file)]
        assert files[str(security.cert_file)] == (secret, "user.crt")
        assert files[str(security.key_file)] == (secret, "user.key")
        assert users[secret]["spec"]["authentication"] == {"type": "tls"}


def test_an_existing_cluster_takes_its_ca_and_each_services_credentials_from_values(
        monkeypatch):
    docs = render(*EXISTING)
    assert not of_kind(docs, "KafkaUser") and not of_kind(docs, "Kafka")
    journal = named(docs, "Deployment", "ehr-journal")
    security = settings_from(config_of(docs, journal), monkeypatch).kafka_security()
    assert (security.protocol, security.mechanism) == ("SASL_SSL", "SCRAM-SHA-256")
    assert security.username == "journal-app"
    files = secret_files(journal)
    assert files[str(security.password_file)] == ("kafka-journal", "password")
    assert files[str(security.ca_file)] == ("corporate-kafka-ca", "ca.crt")
    consent = named(docs, "Deployment", "ehr-consent")
    assert config_of(docs, consent)["EHR_KAFKA_SASL_USERNAME"] == "ehr-consent-kafka"


def test_plain_text_by_default_without_users_or_mounts(monkeypatch):
    docs = render(None, ())
    assert not of_kind(docs, "KafkaUser")
    for w in kafka_workloads(docs):
        config = config_of(docs, w)
        assert settings_from(config, monkeypatch).kafka_security().protocol == "PLAINTEXT"
        assert not [k for k in config if k.startswith(("EHR_KAFKA_SASL", "EHR_KAFKA_SSL"))]
        assert not [f for f in secret_files(w) if "kafka" in f]


def test_a_kafka_user_never_takes_a_services_own_secret():
    docs = render(*TLS_SCRAM)
    own = {c["secretRef"]["name"] for w in kafka_workloads(docs)
           for c in pod_spec(w)["containers"][0]["envFrom"] if "secretRef" in c}
    users = {u["metadata"]["name"] for u in of_kind(docs, "KafkaUser")}
    assert own and users and not own & users


@pytest.mark.parametrize("sets, message", [
    (("kafka.tls.clientCertificate=true",), "exclude each other"),
    (("kafka.sasl.enabled=false", "kafka.tls.enabled=false",
      "kafka.tls.clientCertificate=true"), "needs kafka.tls.enabled"),
    (("kafka.sasl.mechanism=SCRAM-SHA-256",), "SCRAM-SHA-512 only"),
    (("kafka.sasl.mechanism=GSSAPI",), "/kafka/sasl/mechanism"),
    (("kafka.tls.checkHostname=maybe",), "/kafka/tls/checkHostname"),
    (("services.journal.kafkaUser.secret=Not_A_Name",), "/services/journal/kafkaUser/secret"),
])
def test_contradictory_kafka_security_values_are_refused(sets, message):
    args = ["template", "ehr", str(CHART), "-f", str(VALUES / "production.yaml")]
    for s in sets:
        args += ["--set", s]
    done = helm(*args)
    assert done.returncode != 0 and message in done.stderr, done.stderr
