"""The topic catalogue: every Kafka topic of the system, declared in one place.

Event topics are the public contract. They keep every event forever (``retention.ms=-1``) and are
never compacted: a compacted event topic would silently drop history that projections, replays
and other systems rely on. Keys are internal patient ids, so one patient's events share a
partition and stay in order. Each event topic has a dead-letter twin ``<topic>.dlq``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FOREVER = "-1"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    description: str
    configs: dict[str, str] = field(default_factory=dict)
    dlq: bool = True

    def all_configs(self, min_insync_replicas: int) -> dict[str, str]:
        base = {
            "cleanup.policy": "delete",
            "retention.ms": FOREVER,
            "retention.bytes": FOREVER,
            "min.insync.replicas": str(min_insync_replicas),
        }
        return base | self.configs


def dlq_of(topic: str) -> str:
    return f"{topic}.dlq"


def dlq_spec(spec: TopicSpec) -> TopicSpec:
    return TopicSpec(
        name=dlq_of(spec.name),
        partitions=1,
        description=f"Events from {spec.name} that a projection could not parse or apply, "
        "with the error in the headers.",
        dlq=False,
    )


# Partition counts are fixed once a topic has data: more partitions would move patients to other
# partitions and break per-patient order. 12 leaves room to scale consumers on a real cluster.
CATALOGUE: tuple[TopicSpec, ...] = (
    TopicSpec("journal.events", 12, "Clinical record: patients, episodes, service decisions, "
              "notes, observations, critical information, care plans and tasks."),
    TopicSpec("medication.events", 12, "The shared medication list (PLL), its changes, "
              "administrations, reconciliations and decision-support warnings."),
    TopicSpec("consent.events", 12, "Care relations, consents, blocks, restricted entries, "
              "emergency access and proxy rights."),
    TopicSpec("citizen.events", 6, "Citizen-portal facts: messages, proxy sessions, settings."),
    TopicSpec("welfare.events", 12, "Welfare-technology device readings and alarms."),
    TopicSpec("audit.access", 12, "AccessLogged: every access to patient data, permitted or "
              "denied, hash-chained per patient."),
    TopicSpec("registry.events", 1, "Registry export: KPR extracts sent, research data sets "
              "released, analysts' downloads (no personal data)."),
)


def by_name(name: str) -> TopicSpec:
    for spec in all_topics():
        if spec.name == name:
            return spec
    raise KeyError(f"topic {name!r} is not in the catalogue")


def all_topics(specs: tuple[TopicSpec, ...] = CATALOGUE) -> list[TopicSpec]:
    out: list[TopicSpec] = []
    for spec in specs:
        out.append(spec)
        if spec.dlq:
            out.append(dlq_spec(spec))
    return out
