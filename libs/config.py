"""The platform's settings, shared by every service (each service's ``settings.py`` adds its own), read from the environment (pydantic-settings).

Infrastructure is chosen here, so development and production run the same code:
``DATABASE_URL`` and ``KAFKA_BOOTSTRAP_SERVERS`` point at any server; when they are unset the
local stack (``ehr dev up``) is used. Everything else is prefixed ``EHR_``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent

KafkaProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


@dataclass(frozen=True)
class KafkaSecurity:
    """How the application's Kafka clients authenticate and encrypt (issue 16): plain text,
    TLS (optionally with a client certificate: mTLS), or SASL (SCRAM or PLAIN) with or
    without TLS. Files (CA, client certificate and key, password) are read when a client is
    built, so a rotated Secret is picked up by the next client. The password never appears in
    ``repr``; libs/events/kafka_client.py turns this into client options."""

    protocol: KafkaProtocol = "PLAINTEXT"
    mechanism: SaslMechanism = "SCRAM-SHA-512"
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    check_hostname: bool = True

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    def sasl_password(self) -> str:
        """The SASL password: the file's first line (a mounted Secret), else the value."""
        if self.password_file is not None:
            return self.password_file.read_text().strip("\r\n")
        return self.password.get_secret_value() if self.password is not None else ""


class KafkaBootstrap(str):
    """The bootstrap servers (``host:port,...``), carrying how to reach them. A plain ``str``
    everywhere a bootstrap string is used; the clients of libs/events read :attr:`security`
    (absent on a plain string: plain text, as on the local stack)."""

    security: KafkaSecurity

    def __new__(cls, servers: str, security: KafkaSecurity | None = None) -> Self:
        self = super().__new__(cls, servers)
        self.security = security or KafkaSecurity()
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EHR_", extra="ignore", populate_by_name=True)

    service_name: str = "ehr"
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "EHR_DATABASE_URL")
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "EHR_KAFKA_BOOTSTRAP_SERVERS"),
    )

    # local stack (ehr dev up)
    local_dir: Path = REPO_ROOT / ".local"
    cache_dir: Path = REPO_ROOT / ".cache"
    pg_port: int = 55432
    kafka_port: int = 59092
    kafka_controller_port: int = 59093
    kafka_heap: str = "512m"

    # Kafka security (issue 16; deploy/README.md): PLAINTEXT on the local stack; a Strimzi
    # cluster takes SASL_SSL with SCRAM-SHA-512 (a KafkaUser's password, mounted as a file) or
    # SSL with the KafkaUser's certificate and key (mTLS); the CA is the cluster CA's ca.crt
    kafka_security_protocol: KafkaProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_sasl_password_file: Path | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    kafka_ssl_check_hostname: bool = True

    # topics: a production cluster has 3 brokers and min.insync.replicas=2
    kafka_replication_factor: int = 1
    kafka_min_insync_replicas: int = 1
    # how long `ehr topics apply` waits for a broker that does not answer before it says so
    kafka_connect_timeout_s: float = Field(20.0, gt=0, le=600)

    # write path
    relay_batch_size: int = 500
    relay_poll_interval_s: float = 1.0
    relay_standby_retry_s: float = 2.0
    # after a drain that emptied the outbox, the relay waits this long before the next one, so
    # under load a batch gathers what came meanwhile; idle, a row still goes at once
    relay_linger_s: float = Field(0.02, ge=0, le=1)
    # rows no one waits to see published (the access log's) wake the relay this much later, so
    # they go many at a time; a drain for other rows meanwhile takes them along
    relay_later_s: float = Field(0.25, ge=0, le=5)
    # how long a published outbox row is kept (when it went out, for diagnosis) before the
    # relay deletes it
    relay_keep_published_s: float = Field(86_400.0, ge=0)

    # request limits (issue 12): the largest body a service reads (413 beyond it, counted as it
    # streams in) and the most entries a FHIR Bundle may carry
    max_body_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    max_bundle_entries: int = Field(default=1000, gt=0)

    # a service's connections to PostgreSQL: kept open up to db_pool_size, up to db_max_overflow
    # more opened and closed per use. Under 32 clients 20 kept were too few: a journal note
    # write then opened a connection (and introspected its types) per request, 8 % of its CPU
    # (bench/RESULTS.md, issue 17)
    db_pool_size: int = Field(default=40, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)

    # read path
    projection_batch_size: int = 500
    consistency_wait_s: float = 3.0

    # telemetry
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    otel_endpoint: str | None = None
    # a client span per SQL statement: useful when chasing a slow query, but it costs ~10 % of
    # a request's CPU (bench/RESULTS.md, journal), so it is off unless asked for
    otel_sql_spans: bool = False
    # the share of traces recorded, decided at each trace's root (libs/telemetry/sampling.py);
    # a failed request is recorded whatever its trace's luck
    otel_trace_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    log_json: bool = True

    # identity (DOMAIN.md §10, §11 req 7-8; libs/access/tokens.py). A JWKS is inline JSON, a path
    # to a JSON file or an https URL; citizen_acr from the environment is JSON, e.g.
    # EHR_CITIZEN_ACR='["idporten-loa-high"]'. Production never trusts the dev issuer or its keys.
    environment: Literal["dev", "test", "production"] = "dev"
    jwks: str | None = None
    token_audience: str = "ehr-api"
    helseid_issuer: str = "https://helseid-sts.nhn.no"
    idporten_issuer: str = "https://idporten.no"
    sector_issuer: str = "https://maskinporten.no/"
    device_issuer: str = "https://maskinporten.no/"
    dev_issuer: str = "http://localhost/ehr-dev-issuer"
    min_security_level: int = 4
    citizen_acr: tuple[str, ...] = ("idporten-loa-high",)
    dev_key_path: Path = REPO_ROOT / ".local" / "dev-issuer" / "key.pem"
    # token limits (issue 12): the longest lifetime accepted from issuer to expiry for health
    # personnel and citizens, and the largest token and Authorization header accepted
    token_max_lifetime_s: int = Field(default=3600, gt=0)
    token_max_bytes: int = Field(default=8192, gt=0)
    id_rule_2032: bool = False

    @model_validator(mode="after")
    def _kafka_security_complete(self) -> Self:
        protocol = self.kafka_security_protocol
        if protocol.startswith("SASL_") and not self.kafka_sasl_username:
            raise ValueError(f"EHR_KAFKA_SECURITY_PROTOCOL={protocol} needs "
                             "EHR_KAFKA_SASL_USERNAME")
        if protocol.startswith("SASL_") and not (self.kafka_sasl_password
                                                 or self.kafka_sasl_password_file):
            raise ValueError(f"EHR_KAFKA_SECURITY_PROTOCOL={protocol} needs "
                             "EHR_KAFKA_SASL_PASSWORD_FILE or EHR_KAFKA_SASL_PASSWORD")
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ValueError("EHR_KAFKA_SSL_CERTFILE and EHR_KAFKA_SSL_KEYFILE go together "
                             "(a client certificate and its key, for mTLS)")
        tls_only = (self.kafka_ssl_cafile, self.kafka_ssl_certfile)
        if protocol not in ("SSL", "SASL_SSL") and any(tls_only):
            raise ValueError(f"EHR_KAFKA_SSL_* files are set but EHR_KAFKA_SECURITY_PROTOCOL="
                             f"{protocol} does not use TLS: choose SSL or SASL_SSL")
        return self

    def kafka_security(self) -> KafkaSecurity:
        return KafkaSecurity(
            protocol=self.kafka_security_protocol, mechanism=self.kafka_sasl_mechanism,
            username=self.kafka_sasl_username, password=self.kafka_sasl_password,
            password_file=self.kafka_sasl_password_file, ca_file=self.kafka_ssl_cafile,
            cert_file=self.kafka_ssl_certfile, key_file=self.kafka_ssl_keyfile,
            check_hostname=self.kafka_ssl_check_hostname)

    @classmethod
    def for_service(cls, settings: Settings | None = None) -> Self:
        """A service's settings (a subclass): read from the environment, or, when a test or
        the CLI gives the platform's, those with this service's defaults added. Called only by
        a composition root (``services/<name>/app.py``)."""
        if settings is None:
            return cls()
        if isinstance(settings, cls):
            return settings
        return cls.model_validate(settings.model_dump())

    def local_database_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.pg_port}/ehr"

    def local_kafka(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or self.local_database_url()

    @property
    def effective_kafka(self) -> KafkaBootstrap:
        """The bootstrap servers with the configured security: every client built from it
        by libs/events (relay, projections, admin, faust) connects as configured."""
        return KafkaBootstrap(self.kafka_bootstrap_servers or self.local_kafka(),
                              self.kafka_security())


@lru_cache
def get_settings() -> Settings:
    """The platform settings from the environment: for the ``ehr`` command. A service's
    composition root reads its own settings class instead."""
    return Settings()
