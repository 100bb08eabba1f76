"""The journal's settings: the platform's (``libs/config.py``), its port and messaging."""

from __future__ import annotations

from libs.config import Settings


class JournalSettings(Settings):
    journal_port: int = 8004   # EHR_JOURNAL_PORT: where `ehr services start` runs it

    # messaging (DOMAIN.md §7): our communication parties by HER-id, JSON such as
    # EHR_MESSAGING_PARTIES='{"8140001": {"role": "sykepleietjeneste", "unit": "974600978"}}',
    # and the client ids of the message gateways allowed to deliver inbound messages
    # (EHR_MESSAGE_GATEWAYS='["edi-gateway"]'). Outside production, demo values stand in.
    messaging_parties: dict[str, dict[str, str]] = {}
    message_gateways: tuple[str, ...] = ()
