"""A Kafka broker that only speaks SASL_SSL to clients, as a Strimzi cluster with a TLS listener
and SCRAM-SHA-512 KafkaUsers does (issue 16): for tests and for trying the client settings.

The same pinned broker as :class:`~libs.devstack.kafka.LocalKafka`. A throw-away certificate
authority signs the broker's certificate (for ``127.0.0.1`` and ``localhost``); the SCRAM users
are written into the storage when it is formatted (``--add-scram``), so they exist before the
first client connects. The broker talks to itself and its controller in plain text on loopback
ports of their own; clients get only the SASL_SSL listener.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from libs.devstack.kafka import LocalKafka
from libs.devstack.procs import free_port

MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class Authority:
    """PEM files of a test certificate authority and the broker certificate it signed."""

    ca_file: Path
    broker_key_file: Path
    broker_cert_file: Path


def make_authority(folder: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Authority:
    """A CA and a broker certificate for ``hosts`` (valid for a day), written to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ehr test cluster CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(ca_key, hashes.SHA256()))
    authority = Authority(folder / "ca.crt", folder / "broker.key", folder / "broker.crt")
    authority.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    authority.broker_cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    # Kafka's PEM key store wants an unencrypted PKCS#8 key
    authority.broker_key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    authority.broker_key_file.chmod(0o600)
    return authority


@dataclass
class SecuredKafka(LocalKafka):
    """A single KRaft node whose client listener (``port``) is SASL_SSL with SCRAM-SHA-512.

    ``users`` maps SCRAM user names to passwords; ``authority`` is made in ``data_dir`` when
    not given."""

    users: dict[str, str] = field(default_factory=dict)
    authority: Authority | None = None
    internal_port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        if self.authority is None:
            self.authority = make_authority(self.data_dir / "tls")

    def _format_args(self) -> list[str]:
        return [arg for name, password in self.users.items()
                for arg in ("--add-scram", f"{MECHANISM}=[name={name},password={password}]")]

    def _properties(self) -> Path:
        assert self.authority is not None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = super()._properties()
        lines = [line for line in props.read_text().splitlines()
                 if not line.startswith(("listeners=", "advertised.listeners=",
                                         "listener.security.protocol.map=",
                                         "inter.broker.listener.name="))]
        a = self.authority
        lines += [
            f"listeners=CLIENTS://127.0.0.1:{self.port},INTERNAL://127.0.0.1:{self.internal_port},"
            f"CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=CLIENTS://127.0.0.1:{self.port},"
            f"INTERNAL://127.0.0.1:{self.internal_port}",
            "listener.security.protocol.map=CLIENTS:SASL_SSL,INTERNAL:PLAINTEXT,"
            "CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=INTERNAL",
            f"listener.name.clients.sasl.enabled.mechanisms={MECHANISM}",
            f"listener.name.clients.{MECHANISM.lower()}.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "ssl.keystore.type=PEM",
            f"ssl.keystore.certificate.chain={_one_line(a.broker_cert_file)}",
            f"ssl.keystore.key={_one_line(a.broker_key_file)}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={a.ca_file}",
            "",
        ]
        props.write_text("\n".join(lines))
        return props


def _one_line(pem: Path) -> str:
    """A PEM file as one properties value (line breaks escaped)."""
    return pem.read_text().strip().replace("\n", "\\n")
