"""The portal's sign-ins and sessions in PostgreSQL: a sign-in is taken once and expires, a
session ends with its token, after idling, or at log-out, and only the cookie's hash is kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from libs.web.sign_in import Pending
from services.citizen.store import Sessions

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


async def test_a_sign_in_is_taken_once_and_expires(engine):
    s = Sessions(engine, idle=timedelta(minutes=30))
    await s.setup()
    await s.begin("state-a", Pending("verifier", "nonce", "/medicines"), NOW)
    taken = await s.take("state-a", NOW + timedelta(minutes=1))
    assert taken is not None and taken.return_to == "/medicines"
    assert await s.take("state-a", NOW + timedelta(minutes=1)) is None   # replayed
    await s.begin("state-b", Pending("verifier", "nonce", "/record"), NOW)
    assert await s.take("state-b", NOW + timedelta(minutes=11)) is None  # too late


async def test_a_session_ends_with_its_token_when_idle_and_at_log_out(engine):
    s = Sessions(engine, idle=timedelta(minutes=30))
    await s.setup()
    sid = await s.open("token-1", NOW + timedelta(hours=1), NOW)
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT sid_hash FROM citizen_sessions"))).scalar()
    assert sid.encode() not in stored and len(stored) == 32          # only its SHA-256
    got = await s.current(sid, NOW + timedelta(minutes=20))
    assert got is not None and got.token == "token-1" and got.acting_for is None
    assert await s.current(sid, NOW + timedelta(minutes=45)) is not None  # idle from 20
    assert await s.current(sid, NOW + timedelta(minutes=76)) is None     # 31 minutes idle
    sid = await s.open("token-2", NOW + timedelta(minutes=10), NOW)
    assert await s.current(sid, NOW + timedelta(minutes=11)) is None     # the token expired
    sid = await s.open("token-3", NOW + timedelta(hours=1), NOW)
    await s.close(sid)
    assert await s.current(sid, NOW) is None
    assert await s.current("made-up", NOW) is None and await s.current("x" * 500, NOW) is None
