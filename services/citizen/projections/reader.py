"""Reads of the citizen's read models (one query each, no call to another service)."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.citizen import directory
from services.citizen.domain import looked, record
from services.citizen.domain.medicines import change_label, dose_text
from services.citizen.projections.record import SHOWN

MAX_LOG = 500


class Reader:
    def __init__(self, engine: AsyncEngine, hold_back: timedelta):
        self.engine, self.hold_back = engine, hold_back

    async def _docs(self, sql: str, **params) -> list[dict]:
        async with self.engine.connect() as conn:
            return [r[0] for r in await conn.execute(text(sql), params)]

    async def name(self, patient_id: UUID) -> str | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(text("SELECT given, family FROM citizen_people "
                                           "WHERE patient_id = :p"), {"p": patient_id})).first()
        return f"{row[0]} {row[1]}" if row else None

    async def names(self, numbers: set[str | None]) -> dict[str, str]:
        return await directory.names_for(self.engine, {n for n in numbers if n})

    async def record(self, patient_id: UUID, now: datetime, lang: str = "nb") -> dict:
        rows = await self._docs("SELECT jsonb_set(doc, '{kind_}', to_jsonb(kind)) FROM "
                                f"citizen_items WHERE patient_id = :p AND {SHOWN} ORDER BY at",
                                p=patient_id)
        kinds: dict[str, list[dict]] = {}
        for r in rows:
            kinds.setdefault(r.pop("kind_"), []).append(r)
        notes = record.notes(kinds.get("note", ()), now, self.hold_back)
        who = await self.names({n.get("signed_by") for n in notes}
                               | {n.get("unit") for n in notes})
        for n in notes:
            n["author_name"] = who.get(n.get("signed_by") or "", n.get("signed_by"))
            n["unit_name"] = who.get(n.get("unit") or "", n.get("unit"))
        vitals = [{"code": s.code, "label": s.label(lang), "unit": s.unit,
                   "points": [{"at": t.isoformat(), "value": v} for t, v in s.points],
                   "svg": record.polyline(s.points)}
                  for s in record.series(kinds.get("observation", ()))]
        return {"notes": notes, "vital_signs": vitals,
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
        entries = await self._docs("SELECT doc FROM citizen_medicines WHERE patient_id = :p "
                                   "ORDER BY doc->'drug'->>'name'", p=patient_id)
        async with self.engine.connect() as conn:
            changes = [{"entry_id": str(r[0]), "type": r[1], "at": r[2].isoformat()} | r[3]
                       for r in await conn.execute(text(
                           "SELECT entry_id, type, at, doc FROM citizen_medicine_changes "
                           "WHERE patient_id = :p ORDER BY at DESC LIMIT 200"),
                           {"p": patient_id})]
        who = await self.names({c["by"].get("id") for c in changes}
                               | {c["by"].get("unit") for c in changes})
        drugs = {e["entry_id"]: e["drug"]["name"] for e in entries}
        for e in entries:
            e["dose_text"] = dose_text(e["dose"], lang)
        for c in changes:
            c["what"] = change_label(c.pop("type"), lang)
            c["drug"] = drugs.get(c["entry_id"])
            c["by_name"] = who.get(c["by"].get("id") or "", c["by"].get("id"))
            c["by_unit"] = who.get(c["by"].get("unit") or "", c["by"].get("unit"))
        return {"current": [e for e in entries if e["status"] != "discontinued"],
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
