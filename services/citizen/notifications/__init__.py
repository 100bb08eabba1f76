"""Notifications delivered: e-mail over SMTP to a real server, SMS through an adapter
interface (no SMS gateway is shipped yet), each notification at most once per channel.

The sender takes pending rows of ``citizen_outbox`` (``projections/notifications.py``) with
``FOR UPDATE SKIP LOCKED`` (one sender per row across replicas), sends, and marks the row sent
in the same transaction. Nothing is sent to a person without a contact address or who has
opted out (the emergency-notice choice is read from the access facts when the row is taken;
the locked-entry notice was decided by the consent service). The e-mail's ``Message-ID`` is
the notification's id: should the process die after the SMTP server accepted a message and
before the commit, the repeat carries the same ``Message-ID`` for the receiving side to drop.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Protocol
from uuid import UUID, uuid5

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.audit.facts_store import FactsReader
from libs.events.db import setup_turn
from services.citizen.domain.notices import Notice, notice

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 10
EXPIRING = UUID("3c1d8e0a-7f4b-5b8e-9a61-2f0e4d7c9b11")   # namespace of "consent expiring" ids


class Channel(Protocol):
    """Where a notice goes: e-mail, or an SMS gateway's adapter."""

    async def send(self, to: str, notice: Notice, message_id: str) -> None: ...


class SmsGateway(Channel, Protocol):
    """An SMS provider's adapter (e.g. a municipality's gateway): ``to`` is a phone number."""


@dataclass(frozen=True)
class SmtpMailer:
    host: str
    port: int
    sender: str
    timeout_s: float = 10

    def _send(self, to: str, n: Notice, message_id: str) -> None:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.sender, to, n.subject
        msg["Message-ID"] = f"<{message_id}@ehr.citizen>"
        msg.set_content(n.body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            smtp.send_message(msg)

    async def send(self, to: str, notice: Notice, message_id: str) -> None:
        await asyncio.to_thread(self._send, to, notice, message_id)


async def setup_contacts(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await setup_turn(conn)
        await conn.execute(text("""CREATE TABLE IF NOT EXISTS citizen_contacts (
            patient_id uuid PRIMARY KEY, email text, phone text,
            opted_out boolean NOT NULL DEFAULT false, updated_at timestamptz NOT NULL)"""))


async def set_contact(engine: AsyncEngine, patient_id: UUID, email: str | None,
                      opted_out: bool, now: datetime) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("""
            INSERT INTO citizen_contacts (patient_id, email, opted_out, updated_at)
            VALUES (:p, :e, :o, :now) ON CONFLICT (patient_id) DO UPDATE
               SET email = EXCLUDED.email, opted_out = EXCLUDED.opted_out,
                   updated_at = EXCLUDED.updated_at"""),
            {"p": patient_id, "e": email, "o": opted_out, "now": now})


async def contact_of(engine: AsyncEngine, patient_id: UUID) -> dict:
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT email, opted_out FROM citizen_contacts "
                                       "WHERE patient_id = :p"), {"p": patient_id})).first()
    return {"email": row[0], "opted_out": row[1]} if row else {"email": None,
                                                                "opted_out": False}


class Notifier:
    def __init__(self, engine: AsyncEngine, facts: FactsReader, email: Channel | None,
                 portal_url: str, clock: Callable[[], datetime], poll_s: float = 0.5,
                 sms: SmsGateway | None = None, expiry_notice: timedelta = timedelta(days=14),
                 expiry_check_s: float = 60):
        self.engine, self.facts, self.email, self.sms = engine, facts, email, sms
        self.portal_url, self.clock, self.poll_s = portal_url, clock, poll_s
        self.expiry_notice, self.expiry_check_s = expiry_notice, expiry_check_s
        self._stop = asyncio.Event()

    async def queue_expiring(self) -> int:
        """Queue one notice per consent that ends within ``expiry_notice`` (and is neither
        withdrawn nor over): its id is derived from the consent's, so asking again adds
        nothing. Returns how many were new."""
        now = self.clock()
        async with self.engine.begin() as conn:
            due = (await conn.execute(text("""
                SELECT f.patient_id, c->>'consent_id'
                  FROM access_facts f, jsonb_array_elements(f.doc->'consents') c
                 WHERE c->>'valid_to' IS NOT NULL AND c->>'withdrawn_at' IS NULL
                   AND CAST(c->>'valid_to' AS timestamptz) > :now
                   AND CAST(c->>'valid_to' AS timestamptz) <= :until"""),
                {"now": now, "until": now + self.expiry_notice})).all()
            if not due:
                return 0
            rows = [{"n": uuid5(EXPIRING, consent), "p": patient, "k": "consent_expiring",
                     "at": now} for patient, consent in due]
            new = await conn.execute(text("""
                INSERT INTO citizen_outbox (notification_id, patient_id, kind, created_at)
                VALUES (:n, :p, :k, :at) ON CONFLICT (notification_id) DO NOTHING"""), rows)
        return new.rowcount

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_check = loop.time()
        while not self._stop.is_set():
            try:
                if loop.time() >= next_check:
                    next_check = loop.time() + self.expiry_check_s
                    await self.queue_expiring()
                busy = await self.send_pending()
            except Exception:   # the database or the SMTP server is away: try again later
                log.exception("notifications: a round failed; retrying")
                busy = False
            if not busy:
                try:
                    await asyncio.wait_for(self._stop.wait(), self.poll_s)
                except TimeoutError:
                    pass

    def stop(self) -> None:
        self._stop.set()

    async def _why_not(self, patient_id: UUID, kind: str, contact: dict) -> str | None:
        if contact["opted_out"]:
            return "opted_out"
        if kind == "emergency_access" and not (
                await self.facts.facts(patient_id)).notify_emergency_access:
            return "not_chosen"
        if not contact["email"] or self.email is None:
            return "no_address"
        return None

    async def send_pending(self, batch: int = 20) -> int:
        """Send (or skip) up to ``batch`` notifications; returns how many were handled."""
        async with self.engine.begin() as conn:
            rows = (await conn.execute(text("""
                SELECT notification_id, patient_id, kind FROM citizen_outbox
                 WHERE sent_at IS NULL AND skipped IS NULL AND attempts < :max
                 ORDER BY created_at LIMIT :n FOR UPDATE SKIP LOCKED"""),
                {"n": batch, "max": MAX_ATTEMPTS})).all()
            for nid, patient_id, kind in rows:
                contact = await contact_of(self.engine, patient_id)
                skip = await self._why_not(patient_id, kind, contact)
                if skip is None:
                    try:
                        await self.email.send(contact["email"], notice(kind, self.portal_url),
                                              str(nid))
                    except (OSError, smtplib.SMTPException) as exc:
                        log.warning("notifications: e-mail not delivered (%s); will retry",
                                    type(exc).__name__)
                        await conn.execute(text("UPDATE citizen_outbox SET attempts = "
                                                "attempts + 1 WHERE notification_id = :n"),
                                           {"n": nid})
                        continue
                if skip is None:
                    await conn.execute(text("""UPDATE citizen_outbox SET sent_at = :now,
                        attempts = attempts + 1 WHERE notification_id = :n"""),
                        {"n": nid, "now": self.clock()})
                else:
                    await conn.execute(text("""UPDATE citizen_outbox SET skipped = :s,
                        attempts = attempts + 1 WHERE notification_id = :n"""),
                        {"n": nid, "s": skip})
        return len(rows)
