"""Notifications are delivered to a real SMTP server (aiosmtpd): when a clinician opens an entry
Kari locked and asked to hear about, she gets one e-mail, once, naming nothing of the entry; a
consent she gave that ends soon gets one notice; Ola, who opted out, gets none."""

from __future__ import annotations

import email
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text

from libs.devstack.procs import free_port
from tests.citizen.conftest import Portal, running_portal
from tests.support.waiting import eventually, passes


class Inbox:
    def __init__(self):
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


@asynccontextmanager
async def with_mail(database_url, kafka_bootstrap, unique, make_topics, tmp_path,
                    serve: bool = False) -> AsyncIterator[tuple[Portal, Inbox]]:
    """The portal (``serve``: on real ports, for the browser) sending to a real SMTP server."""
    inbox, port = Inbox(), free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        async with running_portal(database_url, kafka_bootstrap, unique, make_topics, tmp_path,
                                  serve=serve, citizen_smtp_host="127.0.0.1",
                                  citizen_smtp_port=port,
                                  citizen_consent_expiry_check_s=0.2) as p:
            yield p, inbox
    finally:
        smtp.stop()


@pytest.fixture
async def mailed(database_url, kafka_bootstrap, unique, make_topics, tmp_path):
    async with with_mail(database_url, kafka_bootstrap, unique, make_topics, tmp_path) as m:
        yield m


async def _locked_and_opened(portal: Portal, patient_id: str, pid: str, address: str,
                             opted_out: bool) -> str:
    c, me = portal.c, portal.c.citizen(pid)
    r = await portal.api.put(f"/patients/{patient_id}/contact", headers=me,
                             json={"email": address, "opted_out": opted_out})
    assert r.status_code == 200, r.text
    r = await c.consent.put(f"/patients/{patient_id}/notifications", headers=me,
                            json={"restricted_opened": True})
    assert r.status_code == 200, r.text
    note = await portal.signed_note(patient_id, "Samtale om rusbruk.")
    r = await c.consent.post(f"/patients/{patient_id}/restrictions", headers=me | {
        "X-Consistency-Token": r.headers["X-Consistency-Token"]},
        json={"kind": "locked", "target": note, "notify_on_open": True})
    assert r.status_code == 201, r.text
    token = {"X-Consistency-Token": r.headers["X-Consistency-Token"]}
    r = await c.consent.post(f"/patients/{patient_id}/restricted-entries/open",
                             headers=c.nurse() | token,
                             json={"entries": [note], "basis": "consent",
                                   "reason": "pasienten samtykket muntlig"})
    assert r.status_code == 200 and r.json()["patient_notified"] is True, r.text
    return note


async def test_one_email_once_and_none_for_an_opted_out_person(mailed):
    portal, inbox = mailed
    kari, kari_pid = await portal.kari()
    await _locked_and_opened(portal, kari, kari_pid, "kari@example.no", opted_out=False)
    [mail] = await eventually(lambda: inbox.to("kari@example.no"), timeout_s=30)
    assert mail["Subject"] == "En sperret opplysning i journalen din er åpnet"
    body = mail.get_content()
    assert "/looked" in body and "rusbruk" not in body and kari_pid not in body

    # exactly once: another round of the sender finds nothing left to send
    assert await portal.app.state.notifier.send_pending() == 0
    assert len(inbox.to("kari@example.no")) == 1

    # a consent she gave that ends in three days: one notice, however often it is looked for
    ends = datetime.now(UTC) + timedelta(days=3)
    r = await portal.c.consent.post(f"/patients/{kari}/consents", headers=portal.c.citizen(
        kari_pid), json={"sector": "school", "recipient_org": "889640782",
                         "categories": ["school_health"], "purpose": "astma på skolen",
                         "valid_to": ends.isoformat()})
    assert r.status_code == 201, r.text
    expiring = "Et samtykke du har gitt, utløper snart"
    await eventually(lambda: [m for m in inbox.to("kari@example.no")
                              if m["Subject"] == expiring], timeout_s=30)
    assert await portal.app.state.notifier.queue_expiring() == 0
    assert await portal.app.state.notifier.send_pending() == 0
    assert [m["Subject"] for m in inbox.to("kari@example.no")].count(expiring) == 1

    ola, ola_pid = await portal.ward.patient()
    await portal.until_known(ola_pid, ola)
    await _locked_and_opened(portal, ola, ola_pid, "ola@example.no", opted_out=True)

    async def skipped() -> None:
        async with portal.app.state.engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT skipped, sent_at FROM citizen_outbox WHERE patient_id = :p"),
                {"p": ola})).all()
        assert rows == [("opted_out", None)], rows
    await passes(skipped, timeout_s=30)
    assert inbox.to("ola@example.no") == []
    assert [m["Subject"] for m in inbox.to("kari@example.no")] == [
        "En sperret opplysning i journalen din er åpnet", expiring]
