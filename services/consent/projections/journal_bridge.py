"""The journal's patient administration as access facts: a process manager that reads
``journal.events`` and appends the care relations (and person registrations) they imply to the
consent service's own streams (DESIGN.md §4; issue: "a grant starts the care relation").

| journal event                        | consent events (deterministic ids)                        |
|--------------------------------------|-----------------------------------------------------------|
| PatientRegistered                    | PersonRegistered (unless known); by a professional, a     |
|                                      | registration relation for their unit, 30 days             |
| EpisodeStarted / EpisodeEnded        | care relation of the episode's unit, started / ended      |
| ServiceApplied                       | case-handling relation of the applying unit               |
| ServiceGranted                       | relation of the provider unit, until ``to_date``          |
| ServiceRefused / ServiceEnded        | the case-handling (and service) relation ended            |
| MessageReceived (with its unit)      | relation of the unit an inbound message (a henvisning,    |
|                                      | epikrise, PLO message, dialogmelding) was addressed to,   |
|                                      | 30 days from its arrival                                  |
| TaskCreated (message_reply)          | the same relation (one per message), for a reply task     |
|                                      | stored before messages named their unit                   |

Every relation it starts says ``source="journal"``. A legevakt contact is a legevakt episode.

It also keeps ``patient_names`` (patient id -> family name) from registrations and changed
details, so log control can flag accesses to patients who share the user's surname (req. 14).

The journal's events come decoded by the service's registry (its manifest lists
``services.journal.contract``, the only journal module this one imports).

It runs as a projection, so the consent events are appended in the same transaction that
records the journal event as applied: each journal event is turned into consent events exactly
once. Relation ids are UUIDv5 of the journal entity, and an event whose relation already exists
(a replay) appends nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, time, timedelta
from uuid import UUID, uuid5

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.access.facts import evolve, fold
from libs.access.model import Facts
from libs.events.db import driver_of
from libs.events.envelope import Actor, Envelope
from libs.events.read_model import Projection
from libs.events.registry import EventPayload, Registry
from libs.events.ports import EventContext, claims_table
from libs.events.store import EventStore, claims_ddl
from libs.kernel.time import OSLO
from services.consent import contract as ce
from services.journal import contract as journal

NAME = "journal_bridge"
NAMESPACE = UUID("6f1d2c43-39a8-4a55-9d1c-6a0c1f7a3b21")
REGISTRATION_RELATION_DAYS = 30
"""How long the unit that registers a patient may work on the record without an episode or a
service decision (our own choice: long enough to assess and decide an application)."""
MESSAGE_RELATION_DAYS = 30
"""How long a unit that received a message about a patient (a referral, an epikrise, a question)
may read the record to act on it, without an episode or a decision (our own choice, as above)."""

log = logging.getLogger(__name__)
NAMED = frozenset(e.event_type for e in (journal.PatientRegistered,
                                         journal.PatientDetailsChanged))
HANDLED = NAMED | {e.event_type for e in (
    journal.EpisodeStarted, journal.EpisodeEnded, journal.ServiceApplied, journal.ServiceGranted,
    journal.ServiceRefused, journal.ServiceEnded, journal.TaskCreated,
    journal.MessageReceived)}
REPLY_TASK = "message_reply"
PATIENT_NAMES_DDL = ("CREATE TABLE IF NOT EXISTS patient_names ("
                     "patient_id uuid PRIMARY KEY, family text NOT NULL)")


def relation_id(kind: str, ref: object) -> UUID:
    return uuid5(NAMESPACE, f"{kind}:{ref}")


class JournalBridge(Projection):
    name = NAME

    def __init__(self, registry: Registry, topic: str = "journal.events",
                 topic_names: Mapping[str, str] | None = None, *,
                 stream_of: Callable[[UUID], str], claims: str):
        """It writes what the consent service's store holds (``store.py``; the manifest wires
        the two): ``stream_of`` names a patient's stream, ``claims`` the table of national ids
        claimed. ``registry`` decodes the consent events of the patient's stream (the service's,
        from its manifest); ``topic_names`` say where the consent events it appends go."""
        self.registry, self.stream_of, self.claims = registry, stream_of, claims
        self.topics = (topic,)
        self.topic_names = dict(topic_names or {})

    async def setup(self, conn: AsyncConnection) -> None:
        await conn.execute(text(claims_ddl(self.claims)))
        await conn.execute(text(PATIENT_NAMES_DDL))

    async def reset(self, conn: AsyncConnection) -> None:
        """Nothing to empty: what it wrote are events, and a replay appends no duplicates."""

    def wants(self, env: Envelope, payload: EventPayload) -> bool:
        """Registrations, episodes, service decisions, reply tasks, messages; not notes,
        observations, visits...: nothing to load, nothing to do."""
        return env.patient_id is not None and env.type in HANDLED and not (
            env.type == journal.TaskCreated.event_type and env.data.get("kind") != REPLY_TASK)

    async def apply_batch(self, conn: AsyncConnection,
                          events: Sequence[tuple[Envelope, EventPayload]]) -> None:
        """Its statements go on the driver's connection, in the batch's transaction
        (``driver_of``): a FHIR transaction's registration costs four of them here."""
        mine = [(env, p) for env, p in events if self.wants(env, p)]
        if not mine:
            return
        raw = await driver_of(conn)
        store = EventStore(conn.engine, self.registry, topic_names=self.topic_names)
        facts: dict = {}   # per patient, loaded once per batch and kept up to date
        for env, payload in mine:
            name = env.data.get("name") if env.type in NAMED else None
            if name:
                await raw.execute(
                    "INSERT INTO patient_names VALUES ($1, $2) ON CONFLICT (patient_id) "
                    "DO UPDATE SET family = excluded.family", env.patient_id, name["family"])
            if env.patient_id not in facts:
                facts[env.patient_id] = await self._facts(raw, env.patient_id)
            wanted = await self._consent_events(raw, env, payload, facts[env.patient_id])
            if wanted:
                ctx = EventContext(patient_id=env.patient_id, actor=env.actor,
                                   causation_id=env.event_id,
                                   correlation_id=env.correlation_id, purpose=env.purpose)
                await store.append_on(raw, self.stream_of(env.patient_id), None, wanted, ctx)
                for e in wanted:
                    facts[env.patient_id] = evolve(facts[env.patient_id], e)

    async def _facts(self, raw: asyncpg.Connection, patient_id: UUID) -> Facts:
        rows = await raw.fetch(
            "SELECT envelope::text FROM events WHERE stream_id = $1 ORDER BY stream_version",
            self.stream_of(patient_id))
        return fold(patient_id, (self.registry.decode(r[0])[1] for r in rows))

    async def _claim(self, raw: asyncpg.Connection, national_id: str, patient_id: UUID) -> bool:
        """True when the number is (now) this patient's; a number that belongs to another patient
        of the access model is left alone, and said so without the number."""
        owner = await raw.fetchval(f"""
            INSERT INTO {claims_table(self.claims)} VALUES ($1, $2) ON CONFLICT (national_id)
                DO UPDATE SET national_id = excluded.national_id RETURNING patient_id""",
            national_id, patient_id)
        if owner != patient_id:
            log.warning("journal patient %s has a national id already registered to patient %s "
                        "in the access model; not registered again", patient_id, owner)
            return False
        return True

    async def _consent_events(self, raw: asyncpg.Connection, env: Envelope,
                              e: EventPayload, facts: Facts) -> list[EventPayload]:
        known = {r.relation_id: r for r in facts.care_relations}
        d = env.data
        match e.event_type.removeprefix("journal."):
            case "PatientRegistered":
                out: list[EventPayload] = []
                if (await self._claim(raw, d["national_id"], env.patient_id)
                        and not facts.registered):
                    out.append(ce.PersonRegistered(national_id=d["national_id"],
                                                   id_type=d["id_type"],
                                                   birth_date=d["birth_date"],
                                                   assigner=d.get("assigner")))
                if env.actor.kind == "practitioner" and env.actor.unit:
                    rid = relation_id("registration", env.event_id)
                    at = datetime.fromisoformat(d["registered_at"])
                    out += _start(known, rid, env.actor.unit, env.actor,
                                  "registered the patient; case handling", "other",
                                  "journal:registration", at,
                                  at + timedelta(days=REGISTRATION_RELATION_DAYS))
                return out
            case "EpisodeStarted":
                return _start(known, relation_id("episode", d["episode_id"]), d["unit"],
                              env.actor, f"episode of care ({d['kind'].replace('_', ' ')})",
                              "episode", d["episode_id"],
                              datetime.fromisoformat(d["started_at"]), None)
            case "EpisodeEnded":
                return _end(known, relation_id("episode", d["episode_id"]),
                            datetime.fromisoformat(d["ended_at"]), "the episode ended")
            case "ServiceApplied" if env.actor.kind == "practitioner" and env.actor.unit:
                return _start(known, relation_id("case", d["decision_id"]), env.actor.unit,
                              env.actor, "case handling of an application for a service",
                              "service_decision", d["decision_id"], env.recorded_at, None)
            case "ServiceGranted":
                to = d.get("to_date")
                ends = (datetime.combine(datetime.fromisoformat(to).date() + timedelta(days=1),
                                         time(), OSLO) if to else None)
                if ends is not None and ends <= env.recorded_at:
                    return []   # a grant entered after its period: nothing to give access to
                return _start(known, relation_id("service", d["decision_id"]), d["provider"],
                              env.actor, f"service decision (IPLOS service {d['service_code']})",
                              "service_decision", d["decision_id"], env.recorded_at, ends)
            case "MessageReceived" if d.get("unit"):
                # a message addressed to one of our units: it takes part in the patient's care
                at = datetime.fromisoformat(d["received_at"])
                return _start(known, relation_id("message", d["message_id"]), d["unit"],
                              env.actor, f"an inbound message ({d['kind'].replace('_', ' ')})",
                              "referral", d["message_id"], at,
                              at + timedelta(days=MESSAGE_RELATION_DAYS))
            case "TaskCreated" if d.get("kind") == REPLY_TASK:
                # an inbound message the unit must answer: the receiving unit reads the record
                at = datetime.fromisoformat(d["created_at"])
                return _start(known, relation_id("message", d["message_id"]), d["unit"],
                              env.actor, "an inbound message to answer", "referral",
                              d["message_id"], at,
                              at + timedelta(days=REGISTRATION_RELATION_DAYS))
            case "ServiceRefused" | "ServiceEnded":
                why = ("the application was refused" if e.event_type.endswith("Refused")
                       else "the service ended")
                return [*_end(known, relation_id("case", d["decision_id"]), env.recorded_at, why),
                        *_end(known, relation_id("service", d["decision_id"]), env.recorded_at,
                              why)]
        return []


def _start(known: dict, rid: UUID, unit: str, actor: Actor, purpose: str, basis: str,
           ref: str, at: datetime, ends: datetime | None) -> list[EventPayload]:
    if rid in known:
        return []
    return [ce.CareRelationStarted(relation_id=rid, unit=unit,
                                   org_parent=actor.organisation or unit, purpose=purpose,
                                   basis=basis, basis_ref=str(ref), started_at=at, ends_at=ends,
                                   source="journal")]


def _end(known: dict, rid: UUID, at: datetime, reason: str | None) -> list[EventPayload]:
    r = known.get(rid)
    if r is None or r.ended_at is not None:
        return []
    return [ce.CareRelationEnded(relation_id=rid, ended_at=at, reason=reason)]

