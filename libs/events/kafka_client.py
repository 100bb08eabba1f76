"""How every Kafka client of the application connects (issue 16): one place turns the configured
:class:`~libs.config.KafkaSecurity` into aiokafka options and faust credentials.

A bootstrap string from :attr:`Settings.effective_kafka <libs.config.Settings.effective_kafka>`
carries its security; a plain string means plain text (the local stack, tests). TLS uses an
``ssl.SSLContext`` from ``aiokafka.helpers.create_ssl_context`` with the configured CA (the
system's otherwise), the client certificate and key for mTLS, and hostname verification unless
switched off. The SASL password is read from its file each time a client is built, and is only
ever handed to the client library: never logged, never in a ``repr``.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaConnectionError, KafkaError, SaslAuthenticationFailed
from aiokafka.helpers import create_ssl_context
from faust.auth import SASLCredentials, SSLCredentials
from faust.types.auth import CredentialsT

from libs.config import KafkaSecurity


def security_of(bootstrap: str) -> KafkaSecurity:
    """The security a bootstrap string carries (plain text for a plain string)."""
    security = getattr(bootstrap, "security", None)
    return security if isinstance(security, KafkaSecurity) else KafkaSecurity()


def ssl_context(security: KafkaSecurity) -> ssl.SSLContext | None:
    if not security.tls:
        return None
    context = create_ssl_context(
        cafile=str(security.ca_file) if security.ca_file else None,
        certfile=str(security.cert_file) if security.cert_file else None,
        keyfile=str(security.key_file) if security.key_file else None)
    context.check_hostname = security.check_hostname
    return context


def security_options(security: KafkaSecurity) -> dict[str, Any]:
    """aiokafka's keyword arguments for ``security`` (producer, consumer and admin alike)."""
    options: dict[str, Any] = {"security_protocol": security.protocol}
    context = ssl_context(security)
    if context is not None:
        options["ssl_context"] = context
    if security.sasl:
        options |= {"sasl_mechanism": security.mechanism,
                    "sasl_plain_username": security.username,
                    "sasl_plain_password": security.sasl_password()}
    return options


def client_options(bootstrap: str) -> dict[str, Any]:
    """``bootstrap_servers`` and the security options: ``AIOKafkaProducer(**client_options(b),
    acks="all")``."""
    return {"bootstrap_servers": str(bootstrap)} | security_options(security_of(bootstrap))


def faust_credentials(security: KafkaSecurity) -> CredentialsT | None:
    """faust's ``broker_credentials`` for ``security`` (None: plain text)."""
    context = ssl_context(security)
    if security.sasl:
        return SASLCredentials(username=security.username, password=security.sasl_password(),
                               ssl_context=context, mechanism=security.mechanism)
    if context is not None:
        return SSLCredentials(context)
    return None


class KafkaAccessError(KafkaConnectionError):
    """The cluster cannot be reached with the configured security; the message says why and
    which setting to look at (never the password). ``refused``: the broker refused the
    credentials or its certificate is not trusted, so retrying cannot help."""

    def __init__(self, message: str, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


async def access_error(bootstrap: str, timeout_s: float = 10) -> KafkaAccessError:
    """Why a client could not connect: one connection per bootstrap host with the configured
    security, its failure described for an operator."""
    security = security_of(bootstrap)
    options = security_options(security)
    reasons, refused = [], False
    for server in str(bootstrap).split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            conn = await asyncio.wait_for(
                create_conn(host, int(port), request_timeout_ms=int(timeout_s * 1000),
                            **options), timeout_s)
        except Exception as exc:  # noqa: BLE001 - described, then raised by the caller
            refused = refused or isinstance(exc, (SaslAuthenticationFailed,
                                                  ssl.SSLCertVerificationError))
            reasons.append(f"{server.strip()}: {_describe(exc, security)}")
        else:
            conn.close()
            reasons.append(f"{server.strip()}: reachable now (it was not a moment ago)")
    return KafkaAccessError(f"cannot use Kafka with EHR_KAFKA_SECURITY_PROTOCOL="
                            f"{security.protocol}: " + "; ".join(reasons), refused)


def _describe(exc: BaseException, security: KafkaSecurity) -> str:
    if isinstance(exc, SaslAuthenticationFailed):
        return (f"the broker refused user {security.username!r} ({security.mechanism}): wrong "
                "user name or password (EHR_KAFKA_SASL_USERNAME, EHR_KAFKA_SASL_PASSWORD_FILE)")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"the broker's certificate is not trusted ({exc.verify_message}): check "
                "EHR_KAFKA_SSL_CAFILE (the cluster CA) and EHR_KAFKA_SSL_CHECK_HOSTNAME")
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or exc}): does this listener speak TLS?"
    if isinstance(exc, ConnectionRefusedError):
        return "nothing listens there (connection refused)"
    if isinstance(exc, (KafkaError, ConnectionError)) and "closed" in str(exc):
        return ("the broker closed the connection: its listener probably wants TLS or SASL "
                "(EHR_KAFKA_SECURITY_PROTOCOL)" if not security.tls else
                "the broker closed the connection during TLS or SASL")
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "no answer in time: a TLS listener spoken to in plain text, or the reverse?"
    return f"{type(exc).__name__}: {exc}"


__all__ = ["KafkaAccessError", "access_error", "client_options", "consumer_for",
           "faust_credentials", "security_of", "security_options", "ssl_context"]


async def partitions_of(consumer: AIOKafkaConsumer, topics: Sequence[str],
                        timeout_s: float = 30) -> list[TopicPartition]:
    """Every partition of ``topics``, waiting up to ``timeout_s`` for topics being created."""
    deadline = time.monotonic() + timeout_s
    while True:
        # consumer.topics() fetches metadata without keeping it; ask the client directly
        cluster = await consumer._client.fetch_all_metadata()
        parts, missing = [], []
        for topic in topics:
            ids = cluster.partitions_for_topic(topic)
            if not ids:
                missing.append(topic)
            else:
                parts += [TopicPartition(topic, p) for p in sorted(ids)]
        if not missing:
            return parts
        if time.monotonic() > deadline:
            raise RuntimeError(f"topics {missing} do not exist: run `ehr topics apply`")
        await asyncio.sleep(0.5)


def consumer_for(bootstrap: str, gather_ms: int = 0) -> AIOKafkaConsumer:
    """A projection's consumer: no group (partitions are assigned and offsets kept in the
    read model's database), committed records only, large fetches for replay. The broker
    answers a fetch as soon as one record is there, so the wait only bounds an idle fetch:
    500 ms (aiokafka's default) instead of 100 makes an idle projection ask five times less
    often, with no added latency. With ``gather_ms`` (``Projection.gather_ms``) the broker
    holds a fetch until a MiB has come or that time has passed: fuller batches, fewer
    fetches, for a read model no request waits on."""
    wait = {"fetch_min_bytes": 1024 * 1024, "fetch_max_wait_ms": gather_ms} if gather_ms else {
        "fetch_max_wait_ms": 500}
    return AIOKafkaConsumer(
        **client_options(bootstrap), group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", isolation_level="read_committed",
        max_partition_fetch_bytes=4 * 1024 * 1024, **wait)


async def stopped(client: Any) -> None:
    """Stop an aiokafka consumer or producer. A group-less consumer stopped before its
    coordinator's first step raises ``CancelledError`` out of ``stop`` (aiokafka #647: the
    coordinator awaits a task it has just cancelled; seen every time a consumer was stopped
    right after ``start``). That is no cancellation of the caller's, and whatever the caller
    still has to give back after it (the other client, a projection's lock) must be: it is
    swallowed unless the caller itself is being cancelled."""
    try:
        await client.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
