"""Reads of the citizen's read models, no call to another service. A page's data is one
statement on one pooled connection, sent with asyncpg directly (no SQLAlchemy statement
compilation, no BEGIN/ROLLBACK around a read): the record and the medicines pages each read
the person's name, their rows and the directory's names of the people and units in them at
once (bench/profiles/citizen-*: the pages' CPU went to these round trips and their wrapping)."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.events.db import pooled
from services.citizen import directory
from services.citizen.domain import looked, record
from services.citizen.domain.medicines import change_label, dose_text
from services.citizen.projections.record import SHOWN

MAX_LOG = 500
_NAME = "(SELECT given || ' ' || family FROM citizen_people WHERE patient_id = $1)"
_NAMES = "(SELECT jsonb_object_agg(number, name) FROM citizen_directory WHERE number IN ({}))"
# the rows shown to the patient, the whose-record banner and the directory's names, at once
_RECORD = f"""
    WITH items AS (SELECT kind, doc, at FROM citizen_items
                    WHERE patient_id = $1 AND {SHOWN})
    SELECT {_NAME},
           (SELECT jsonb_agg(jsonb_set(doc, '{{kind_}}', to_jsonb(kind)) ORDER BY at)
              FROM items)::text,
           {_NAMES.format("SELECT doc->>k FROM items, unnest(ARRAY['signed_by', 'unit']) k "
                          "WHERE kind = 'note'")}::text"""
_MEDICINES = f"""
    WITH changes AS (SELECT entry_id, type, at, doc, row_number() OVER (
                            ORDER BY at DESC, event_id) AS n
                       FROM citizen_medicine_changes WHERE patient_id = $1
                      ORDER BY at DESC, event_id LIMIT 200)
    SELECT {_NAME},
           (SELECT jsonb_agg(doc ORDER BY doc->'drug'->>'name') FROM citizen_medicines
             WHERE patient_id = $1)::text,
           (SELECT jsonb_agg(jsonb_build_object('entry_id', entry_id, 'type', type) || doc
                             ORDER BY n) FROM changes)::text,
           (SELECT array_agg(at ORDER BY n) FROM changes),
           {_NAMES.format("SELECT doc->'by'->>k FROM changes, unnest(ARRAY['id', 'unit']) k")
            }::text"""


def _json(raw: str | None, empty):
    return json.loads(raw) if raw is not None else empty


class Reader:
    def __init__(self, engine: AsyncEngine, hold_back: timedelta):
        self.engine, self.hold_back = engine, hold_back

    def _raw(self) -> contextlib.AbstractAsyncContextManager[asyncpg.Connection]:
        """A pooled connection, as asyncpg's: one round trip per statement."""
        return pooled(self.engine)

    async def _docs(self, sql: str, **params) -> list[dict]:
        async with self.engine.connect() as conn:
            return [r[0] for r in await conn.execute(text(sql), params)]

    async def name(self, patient_id: UUID) -> str | None:
        async with self._raw() as conn:
            return await conn.fetchval(f"SELECT {_NAME}", patient_id)

    async def names(self, numbers: set[str | None]) -> dict[str, str]:
        return await directory.names_for(self.engine, {n for n in numbers if n})

    async def record(self, patient_id: UUID, now: datetime, lang: str = "nb") -> dict:
        return (await self.record_page(patient_id, now, lang))[1]

    async def record_page(self, patient_id: UUID, now: datetime,
                          lang: str = "nb") -> tuple[str | None, dict]:
        """(whose record: the person's name, what of it is shared with them), one statement."""
        async with self._raw() as conn:
            name, rows, who = await conn.fetchrow(_RECORD, patient_id)
        kinds: dict[str, list[dict]] = {}
        for r in _json(rows, []):
            kinds.setdefault(r.pop("kind_"), []).append(r)
        who = _json(who, {})
        notes = record.notes(kinds.get("note", ()), now, self.hold_back)
        for n in notes:
            n["author_name"] = who.get(n.get("signed_by") or "", n.get("signed_by"))
            n["unit_name"] = who.get(n.get("unit") or "", n.get("unit"))
        vitals = [{"code": s.code, "label": s.label(lang), "unit": s.unit,
                   "points": [{"at": t.isoformat(), "value": v} for t, v in s.points],
                   "svg": record.polyline(s.points)}
                  for s in record.series(kinds.get("observation", ()))]
        return name, {"notes": notes, "vital_signs": vitals,
                      "conditions": kinds.get("condition", []),
                      "critical_info": [c for c in kinds.get("critical", [])
                                        if c["status"] not in ("refuted", "removed")]}

    async def visits(self, patient_id: UUID, now: datetime) -> list[dict]:
        start, end = record.week_of(now)
        items = await self._docs("SELECT doc FROM citizen_items WHERE patient_id = :p AND "
                                 f"kind = 'visit' AND at >= :s AND at < :e AND {SHOWN}",
                                 p=patient_id,
                                 s=start, e=end)
        out = record.visits(items, now)
        names = await self.names({v["unit"] for v in out} | {v.get("assignee") for v in out})
        for v in out:
            v["unit_name"] = names.get(v["unit"], v["unit"])
            v["assignee_name"] = names.get(v.get("assignee") or "")
        return out

    async def medicines(self, patient_id: UUID, lang: str = "nb") -> dict:
        return (await self.medicines_page(patient_id, lang))[1]

    async def medicines_page(self, patient_id: UUID, lang: str = "nb"
                             ) -> tuple[str | None, dict]:
        """(whose record, the medication list and its changes with who made them), one
        statement."""
        async with self._raw() as conn:
            name, entries, changes, ats, who = await conn.fetchrow(_MEDICINES, patient_id)
        entries, who = _json(entries, []), _json(who, {})
        changes = [{"entry_id": c.pop("entry_id"), "type": c.pop("type"), "at": at.isoformat()}
                   | c for c, at in zip(_json(changes, []), ats or (), strict=True)]
        drugs = {e["entry_id"]: e["drug"]["name"] for e in entries}
        for e in entries:
            e["dose_text"] = dose_text(e["dose"], lang)
        for c in changes:
            c["what"] = change_label(c.pop("type"), lang)
            c["drug"] = drugs.get(c["entry_id"])
            c["by_name"] = who.get(c["by"].get("id") or "", c["by"].get("id"))
            c["by_unit"] = who.get(c["by"].get("unit") or "", c["by"].get("unit"))
        return name, {"current": [e for e in entries if e["status"] != "discontinued"],
                      "stopped": [e for e in entries if e["status"] == "discontinued"],
                      "changes": changes}

    async def looked(self, patient_id: UUID, lang: str = "nb", limit: int = 200) -> list[dict]:
        docs = await self._docs("""
            SELECT doc FROM citizen_access_log WHERE patient_id = :p AND NOT (
                   doc->>'actor_kind' = 'citizen' AND doc->>'actor_id' = :me
                   AND doc->>'acting_for' IS NULL)
             ORDER BY accessed_at DESC LIMIT :n""", p=patient_id, me=str(patient_id),
                                n=min(limit, MAX_LOG))
        mine = [d for d in docs if looked.by_someone_else(d, str(patient_id))]
        names = await self.names({d.get(k) for d in mine
                                  for k in ("hpr", "legal_entity", "point_of_care")})
        return [looked.entry(d, names.get, lang) for d in mine]

    async def messages(self, patient_id: UUID) -> list[dict]:
        """The patient's messages with their care team, newest first, each with its replies
        (oldest first) and the units and clinicians named from the directory."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(text("""
                SELECT m.doc, COALESCE(jsonb_agg(r.doc ORDER BY r.at)
                                       FILTER (WHERE r.reply_id IS NOT NULL), '[]')
                  FROM citizen_messages m LEFT JOIN citizen_message_replies r
                    ON r.patient_id = m.patient_id AND r.message_id = m.message_id
                 WHERE m.patient_id = :p GROUP BY m.message_id, m.doc, m.at
                 ORDER BY m.at DESC LIMIT 200"""), {"p": patient_id})).all()
        out = [m | {"replies": replies} for m, replies in rows]
        who = await self.names({m["unit"] for m in out}
                               | {x for m in out for r in m["replies"] for x in (r["by"],
                                                                                 r["unit"])})
        for m in out:
            m["unit_name"] = who.get(m["unit"], m["unit"])
            for r in m["replies"]:
                r["by_name"], r["unit_name"] = who.get(r["by"], r["by"]), who.get(r["unit"],
                                                                                 r["unit"])
        return out
