"""Create or check topics idempotently (``ehr topics apply``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from libs.events.kafka_client import access_error, client_options
from libs.events.topics import TopicSpec


@dataclass
class TopicResult:
    name: str
    status: str  # created | ok | differs
    detail: str = ""


async def admin_client(bootstrap: str, timeout_s: float = 60) -> AIOKafkaAdminClient:
    """An admin client on a broker that answers metadata requests (retries while it starts).

    Refused credentials or an untrusted certificate fail at once, anything else when
    ``timeout_s`` is over, with a :class:`~libs.events.kafka_client.KafkaAccessError` saying why.
    """
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(**client_options(bootstrap), request_timeout_ms=10000)
        try:
            await admin.start()
            await admin.list_topics()
            return admin
        except (KafkaConnectionError, OSError, asyncio.TimeoutError) as exc:
            await admin.close()
            error = await access_error(bootstrap)
            if error.refused or asyncio.get_running_loop().time() > deadline:
                raise error from exc
            await asyncio.sleep(0.5)


async def apply_topics(bootstrap: str, specs: list[TopicSpec], replication_factor: int = 1,
                       min_insync_replicas: int = 1,
                       connect_timeout_s: float = 60) -> list[TopicResult]:
    admin = await admin_client(bootstrap, connect_timeout_s)
    try:
        existing = set(await admin.list_topics())
        results: list[TopicResult] = []
        to_create = [s for s in specs if s.name not in existing]
        for spec in to_create:
            resp = await admin.create_topics([
                NewTopic(spec.name, spec.partitions, replication_factor,
                         topic_configs=spec.all_configs(min_insync_replicas))
            ])
            for _name, code, *rest in resp.topic_errors:
                if code == TopicAlreadyExistsError.errno:  # created meanwhile, or not yet listed
                    existing.add(spec.name)
                elif code != 0:
                    message = rest[0] if rest else ""
                    raise RuntimeError(f"cannot create topic {spec.name}: error {code} {message}")
                else:
                    results.append(TopicResult(spec.name, "created",
                                               f"{spec.partitions} partitions"))
        for spec in specs:
            if spec.name in existing:
                results.append(await _check(admin, spec, min_insync_replicas))
        order = {s.name: i for i, s in enumerate(specs)}
        return sorted(results, key=lambda r: order[r.name])
    finally:
        await admin.close()


async def _check(admin: AIOKafkaAdminClient, spec: TopicSpec, min_isr: int) -> TopicResult:
    for _ in range(50):  # a topic created a moment ago may not have its metadata yet
        desc = await admin.describe_topics([spec.name])
        partitions = len(desc[0]["partitions"])
        if partitions and desc[0].get("error_code", 0) == 0:
            break
        await asyncio.sleep(0.2)
    problems = []
    if partitions != spec.partitions:
        problems.append(f"has {partitions} partitions, catalogue says {spec.partitions} "
                        "(never changed automatically: it would reorder patients' events)")
    resp = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, spec.name)])
    actual = {}
    for r in resp:
        for res in r.resources:
            for entry in res[4]:
                actual[entry[0]] = entry[1]
    wanted = spec.all_configs(min_isr)
    for key, value in wanted.items():
        if key in actual and actual[key] != value:
            problems.append(f"{key}={actual[key]} (catalogue: {value})")
    if problems:
        return TopicResult(spec.name, "differs", "; ".join(problems))
    return TopicResult(spec.name, "ok", f"{partitions} partitions")
