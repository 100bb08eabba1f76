"""The alert board's feed: the open alerts of one unit, most severe first and then the oldest,
read from the welfare service's own tables only (``welfare_alerts``, the read model, and
``welfare_alert_steps``, where each step is claimed in the transaction that records it).

Sent as Server-Sent Events: each message is the whole board (at most ``LIMIT`` alerts), its
``id`` a digest of it. A browser that reconnects sends the last id it saw (``Last-Event-ID``)
and gets the board as it is now whenever that differs, so nothing it missed is lost."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

LIMIT = 200
POLL_S = 0.3
KEEP_ALIVE_S = 15.0
_OPEN = text("""
    SELECT a.alert_id, a.patient_id, a.status, a.level, a.doc,
           EXISTS (SELECT 1 FROM welfare_alert_steps s
                    WHERE s.alert_id = a.alert_id AND s.step = 'en_route') AS en_route
      FROM welfare_alerts a
     WHERE a.status <> 'resolved' AND a.doc->>'unit' = :unit
     ORDER BY (a.doc->>'severity')::int DESC, (a.doc->>'raised_at')::timestamptz, a.alert_id
     LIMIT :n""")


async def board(engine: AsyncEngine, unit: str) -> list[dict]:
    """The unit's open alerts, in the board's order."""
    async with engine.connect() as conn:
        rows = (await conn.execute(_OPEN, {"unit": unit, "n": LIMIT})).all()
    return [{"alert_id": str(r.alert_id), "patient_id": str(r.patient_id),
             "status": "en_route" if r.en_route and r.status == "acknowledged" else r.status,
             "level": r.level, "severity": r.doc["severity"], "code": r.doc["code"],
             "display": r.doc["display"], "raised_at": r.doc["raised_at"]} for r in rows]


async def patient_of(engine: AsyncEngine, alert_id: UUID) -> UUID | None:
    """Whose alert ``alert_id`` is (None when the read model does not know it)."""
    async with engine.connect() as conn:
        return (await conn.execute(text(
            "SELECT patient_id FROM welfare_alerts WHERE alert_id = :a"), {"a": alert_id})
                ).scalar_one_or_none()


def message(alerts: list[dict], now: datetime) -> tuple[str, str]:
    """(the id, the SSE message) of a board."""
    data = json.dumps(alerts, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(data.encode()).hexdigest()[:32]
    body = json.dumps({"alerts": alerts, "at": now.isoformat()}, separators=(",", ":"))
    return digest, f"id: {digest}\nretry: 1000\ndata: {body}\n\n"


async def stream(engine: AsyncEngine, unit: str, last_id: str | None,
                 alive: Callable[[], Awaitable[bool]], allowed: Callable[[str], Awaitable[bool]],
                 clock: Callable[[], datetime]) -> AsyncIterator[str]:
    """The board whenever it changes (and at once when ``last_id`` is not the board now), the
    alerts of people ``allowed`` only; a comment now and then to keep the connection open;
    until ``alive()`` says no."""
    quiet = 0.0
    while await alive():
        alerts = [a for a in await board(engine, unit) if await allowed(a["patient_id"])]
        digest, msg = message(alerts, clock())
        if digest != last_id:
            last_id, quiet = digest, 0.0
            yield msg
        elif quiet >= KEEP_ALIVE_S:
            quiet = 0.0
            yield ": still here\n\n"
        await asyncio.sleep(POLL_S)
        quiet += POLL_S
