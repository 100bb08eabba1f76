"""The consent service's own read models.

``access_log`` (from ``audit.access`` and ``consent.events``):
- ``access_log``: every AccessLogged entry of every service, for the citizen's "who looked at my
  record" (req 49) and FHIR AuditEvent;
- ``review_items``: what the unit leader must review (AC13, req 14): every emergency access
  (break-the-glass), every care relation a professional declared for themself, every
  restricted entry opened on necessity, every attempt by a
  professional without need-to-know, and a professional's accesses to a patient with their own
  surname (one item per professional, patient and day; the names come from the journal through
  ``journal_bridge``, so an access before the journal's registration reached it is not
  flagged); ``AccessReviewed`` closes an item.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from uuid import UUID, uuid5

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.audit.log import AccessLogged
from libs.events.envelope import Envelope
from libs.events.read_model import Projection
from libs.events.registry import EventPayload
from services.consent import contract as ev
from services.consent.projections.journal_bridge import PATIENT_NAMES_DDL

NAME = "access_log"
SAME_SURNAME = UUID("3c1f7a52-1d6e-4b8e-9f0a-8d2b7c4e5a61")

# the entries and, in the same statement, which of the batch's candidates for a same-surname
# review item (``_candidates``) have the patient's family name: their places in the arrays.
# The entries come as one JSON array of {id, p, d}: each event's id and patient and the entry
# as logged (its envelope's ``data``), whose fields PostgreSQL reads for the columns (one text
# to send, not fourteen arrays encoded element by element: 19 % of the consent service's
# relay-and-projections process under logged reads, bench/RESULTS.md)
_INSERT_LOG = """
WITH logged AS (
    INSERT INTO access_log (event_id, patient_id, service, chain, seq, accessed_at,
                            actor_kind, actor_id, unit, outcome, legal_basis, emergency,
                            action, doc)
    SELECT x.id, x.p, x.d->>'service', x.d->>'chain', (x.d->>'seq')::int,
           (x.d->>'accessed_at')::timestamptz, x.d->>'actor_kind', x.d->>'actor_id',
           x.d->>'point_of_care', x.d->>'outcome', x.d->>'legal_basis',
           (x.d->>'emergency')::boolean, x.d->>'action', x.d
      FROM jsonb_to_recordset(CAST(:entries AS jsonb)) AS x(id uuid, p uuid, d jsonb)
    ON CONFLICT (event_id) DO NOTHING)
SELECT c.n FROM unnest(CAST(:sp AS uuid[]), CAST(:sf AS text[])) WITH ORDINALITY AS c(p, f, n)
  JOIN patient_names ON patient_names.patient_id = c.p AND lower(patient_names.family) = c.f"""

_INSERT_ITEM = """
INSERT INTO review_items (item_id, patient_id, unit, kind, created_at, summary)
VALUES (:i, :p, :u, :k, :t, CAST(:s AS jsonb)) ON CONFLICT (item_id) DO NOTHING"""


class AccessLogProjection(Projection):
    name = NAME
    gather_ms = 250   # an entry is durable in its service before this; no request waits here
    idempotent = True   # every row is keyed by its event (or its review item), kept if there

    def __init__(self, audit_topic: str = "audit.access", consent_topic: str = "consent.events"):
        self.topics = (audit_topic, consent_topic)

    async def setup(self, conn: AsyncConnection) -> None:
        await conn.execute(text(PATIENT_NAMES_DDL))
        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS access_log (
                event_id uuid PRIMARY KEY, patient_id uuid NOT NULL, service text NOT NULL,
                chain text NOT NULL, seq integer NOT NULL, accessed_at timestamptz NOT NULL,
                actor_kind text NOT NULL, actor_id text NOT NULL, unit text,
                outcome text NOT NULL, legal_basis text NOT NULL, emergency boolean NOT NULL,
                action text NOT NULL, doc jsonb NOT NULL)"""))
        await conn.execute(text("""CREATE INDEX IF NOT EXISTS access_log_patient
                                   ON access_log (patient_id, accessed_at)"""))
        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS review_items (
                item_id uuid PRIMARY KEY, patient_id uuid NOT NULL, unit text NOT NULL,
                kind text NOT NULL, created_at timestamptz NOT NULL, summary jsonb NOT NULL,
                reviewed_at timestamptz, outcome text, reviewer text, note text)"""))
        await conn.execute(text("""CREATE INDEX IF NOT EXISTS review_items_open
                                   ON review_items (unit, created_at) WHERE reviewed_at IS NULL"""))

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(text("TRUNCATE access_log, review_items"))

    async def apply_batch(self, conn: AsyncConnection,
                          events: Sequence[tuple[Envelope, EventPayload]]) -> None:
        logs = [(env, p) for env, p in events if isinstance(p, AccessLogged)]
        if logs:
            named = _candidates(logs)
            matched = await conn.execute(text(_INSERT_LOG), {
                "entries": orjson.dumps([{"id": e.event_id, "p": e.patient_id, "d": e.data}
                                         for e, _ in logs]).decode(),
                "sp": [e.patient_id for e, _, _ in named], "sf": [f for _, _, f in named]})
            if items := same_surname_items(named, sorted(matched.scalars())):
                await conn.execute(text(_INSERT_ITEM), items)
        for env, p in events:
            item = review_item(env, p)
            if item is not None:
                await conn.execute(text(_INSERT_ITEM), item)
            if isinstance(p, ev.AccessReviewed):
                await conn.execute(text("""
                    UPDATE review_items SET reviewed_at = :t, outcome = :o, reviewer = :r,
                           note = :n WHERE item_id = :i AND reviewed_at IS NULL"""),
                    {"t": p.reviewed_at, "o": p.outcome, "r": p.reviewer_hpr, "n": p.note,
                     "i": p.access_event_id})


def _candidates(logs: Sequence[tuple[Envelope, AccessLogged]]
                ) -> list[tuple[Envelope, AccessLogged, str]]:
    """The batch's candidates for a same-surname review item: permitted accesses by
    professionals at a point of care, each with the surname (the last word of their name in
    the token, lower case) that makes it an item when it is the patient's family name
    (``_INSERT_LOG`` asks PostgreSQL which are)."""
    return [(env, p, p.name.split()[-1].lower()) for env, p in logs
            if p.actor_kind == "practitioner" and p.name and p.name.split()
            and p.outcome == "permit" and p.point_of_care and env.patient_id]


def same_surname_items(named: Sequence[tuple[Envelope, AccessLogged, str]],
                       matched: Sequence[int]) -> list[dict]:
    """The review items of the candidates at the places ``matched`` (1-based, ascending): one
    per professional, patient and day, the first of a batch's accesses making it (the item's
    id is derived from the three, so a later batch's same item is kept as it is)."""
    items: dict[UUID, dict] = {}
    for n in matched:
        env, p, _ = named[n - 1]
        item_id = uuid5(SAME_SURNAME, f"{p.actor_id}:{env.patient_id}:{p.accessed_at.date()}")
        items.setdefault(item_id, {
            "i": item_id, "p": env.patient_id, "u": p.point_of_care, "k": "same_surname",
            "t": p.accessed_at,
            "s": json.dumps({"hpr": p.hpr, "name": p.name, "action": p.action,
                             "service": p.service, "category": p.category})})
    return list(items.values())


def review_item(env: Envelope, p: EventPayload) -> dict | None:
    """The review item an event creates for the unit leader, if any."""
    summary: dict
    match p:
        case ev.EmergencyAccessGranted():
            kind, unit, when = "emergency_access", p.unit, p.granted_at
            summary = {"hpr": p.hpr, "basis": p.basis, "reason": p.reason,
                       "expires_at": p.expires_at.isoformat()}
        case ev.CareRelationStarted() if p.source == "self_declared":
            kind, unit, when = "self_declared_relation", p.unit, p.started_at
            summary = {"hpr": p.hpr, "basis": p.basis, "purpose": p.purpose,
                       "reason": p.reason,
                       "ends_at": p.ends_at.isoformat() if p.ends_at else None}
        case ev.RestrictedEntryOpened() if p.basis == "necessity":
            kind, unit, when = "restricted_opened", p.unit, p.opened_at
            summary = {"hpr": p.hpr, "entries": p.entries, "reason": p.reason}
        case AccessLogged() if (p.actor_kind == "practitioner" and p.outcome == "deny"
                                and p.reason == "no_access" and p.point_of_care):
            kind, unit, when = "access_without_care_relation", p.point_of_care, p.accessed_at
            summary = {"hpr": p.hpr, "name": p.name, "action": p.action,
                       "service": p.service, "category": p.category}
        case _:
            return None
    return {"i": env.event_id, "p": env.patient_id, "u": unit, "k": kind, "t": when,
            "s": json.dumps(summary, default=str)}

