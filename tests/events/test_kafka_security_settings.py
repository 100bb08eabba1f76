"""Kafka security settings and the client options built from them (issue 16), without a broker:
what an operator gets wrong is refused at start with the setting's name, and the password stays
out of every representation."""

from __future__ import annotations

import copy
import pickle
import ssl

import pytest
from faust.auth import SASLCredentials, SSLCredentials
from pydantic import ValidationError

from libs.config import Settings
from libs.devstack.secure_kafka import make_authority
from libs.events.faust_app import create_app
from libs.events.kafka_client import client_options, security_options

SECRET = "pw-that-must-not-show"


def sasl_ssl(tmp_path, **changes) -> Settings:
    authority = make_authority(tmp_path / "tls")
    return Settings(**({"KAFKA_BOOTSTRAP_SERVERS": "kafka-0:9093,kafka-1:9093",
                        "kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "ehr",
                        "kafka_sasl_password": SECRET, "kafka_ssl_cafile": authority.ca_file}
                       | changes))


def test_the_local_stack_stays_plain_text():
    options = client_options(Settings(KAFKA_BOOTSTRAP_SERVERS="h:9092").effective_kafka)
    assert options == {"bootstrap_servers": "h:9092", "security_protocol": "PLAINTEXT"}
    assert client_options("h:9092") == options   # a plain string, as tests pass it


def test_sasl_ssl_options_verify_the_cluster_ca_and_the_host_name(tmp_path):
    options = client_options(sasl_ssl(tmp_path).effective_kafka)
    assert options["bootstrap_servers"] == "kafka-0:9093,kafka-1:9093"
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("ehr", SECRET)
    context = options["ssl_context"]
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert "ehr test cluster CA" in str(context.get_ca_certs())
    unchecked = sasl_ssl(tmp_path, kafka_ssl_check_hostname=False).effective_kafka
    assert not client_options(unchecked)["ssl_context"].check_hostname


def test_the_password_file_is_read_when_a_client_is_built(tmp_path):
    secret = tmp_path / "password"
    secret.write_text("first\n")
    kafka = sasl_ssl(tmp_path, kafka_sasl_password=None,
                     kafka_sasl_password_file=secret).effective_kafka
    assert client_options(kafka)["sasl_plain_password"] == "first"
    secret.write_text("rotated")   # the Secret changed: the next client uses the new one
    assert client_options(kafka)["sasl_plain_password"] == "rotated"


def test_mutual_tls_presents_the_client_certificate(tmp_path):
    authority = make_authority(tmp_path / "tls")
    settings = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=authority.ca_file,
                        kafka_ssl_certfile=authority.broker_cert_file,
                        kafka_ssl_keyfile=authority.broker_key_file)
    options = security_options(settings.kafka_security())
    assert options["security_protocol"] == "SSL" and "sasl_mechanism" not in options
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    missing = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=authority.ca_file,
                       kafka_ssl_certfile=tmp_path / "absent.crt",
                       kafka_ssl_keyfile=tmp_path / "absent.key")
    with pytest.raises(FileNotFoundError):
        security_options(missing.kafka_security())


@pytest.mark.parametrize(("changes", "named"), [
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_password": "x"},
     "EHR_KAFKA_SASL_USERNAME"),
    ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_username": "ehr"},
     "EHR_KAFKA_SASL_PASSWORD_FILE"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_certfile": "user.crt"},
     "EHR_KAFKA_SSL_KEYFILE"),
    ({"kafka_ssl_cafile": "ca.crt"}, "choose SSL or SASL_SSL"),
    ({"kafka_security_protocol": "TLS"}, "kafka_security_protocol"),
    ({"kafka_sasl_mechanism": "GSSAPI"}, "kafka_sasl_mechanism"),
])
def test_incomplete_security_settings_are_refused_naming_the_setting(changes, named):
    with pytest.raises(ValidationError, match=named):
        Settings(**changes)


def test_security_comes_from_the_environment(monkeypatch, tmp_path):
    secret = tmp_path / "password"
    secret.write_text(SECRET)
    monkeypatch.setenv("EHR_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("EHR_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("EHR_KAFKA_SASL_USERNAME", "ehr")
    monkeypatch.setenv("EHR_KAFKA_SASL_PASSWORD_FILE", str(secret))
    options = client_options(Settings().effective_kafka)
    assert options["security_protocol"] == "SASL_PLAINTEXT" and "ssl_context" not in options
    assert options["sasl_mechanism"] == "SCRAM-SHA-256"
    assert options["sasl_plain_password"] == SECRET


def test_the_password_is_in_no_representation(tmp_path):
    settings = sasl_ssl(tmp_path)
    kafka = settings.effective_kafka
    shown = [repr(settings), str(settings), repr(settings.kafka_security()), str(kafka),
             repr(kafka), settings.model_dump_json(), repr(settings.model_dump())]
    assert [text for text in shown if SECRET in text] == []
    assert "**********" in repr(settings.kafka_security())


def test_the_bootstrap_keeps_its_security_when_copied(tmp_path):
    kafka = sasl_ssl(tmp_path).effective_kafka
    for twin in (copy.deepcopy(kafka), copy.copy(kafka), pickle.loads(pickle.dumps(kafka))):
        assert twin == kafka and twin.security == kafka.security


def test_faust_apps_get_the_same_credentials(tmp_path):
    app = create_app("faustsecure", sasl_ssl(tmp_path), datadir=tmp_path / "faust")
    credentials = app.conf.broker_credentials
    assert isinstance(credentials, SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.ssl_context.check_hostname
    assert SECRET not in repr(credentials)

    authority = make_authority(tmp_path / "mtls")
    mtls = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=authority.ca_file,
                    kafka_ssl_certfile=authority.broker_cert_file,
                    kafka_ssl_keyfile=authority.broker_key_file)
    credentials = create_app("faustmtls", mtls, datadir=tmp_path / "f2").conf.broker_credentials
    assert isinstance(credentials, SSLCredentials)
    plain = create_app("faustplain", Settings(), datadir=tmp_path / "f3")
    assert plain.conf.broker_credentials is None


async def test_nothing_listening_is_described_and_worth_retrying():
    from libs.devstack.procs import free_port
    from libs.events.kafka_client import access_error

    port = free_port()
    error = await access_error(Settings(KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{port}")
                               .effective_kafka)
    assert str(error) == ("KafkaAccessError: cannot use Kafka with EHR_KAFKA_SECURITY_PROTOCOL="
                          f"PLAINTEXT: 127.0.0.1:{port}: nothing listens there "
                          "(connection refused)")
    assert not error.refused
