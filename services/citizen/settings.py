"""The citizen service's settings: the platform's (``libs/config.py``), its port, the sign-in
(OIDC) it uses, where its writes land, the hold-back of new notes and e-mail."""

from __future__ import annotations

from pydantic import Field

from libs.config import Settings


class CitizenSettings(Settings):
    citizen_port: int = 8006   # EHR_CITIZEN_PORT: where `ehr services start` runs it
    # the portal's own address as the browser sees it (the OIDC redirect URI is built from it)
    citizen_public_url: str = "http://localhost:8006"
    # OIDC (ID-porten): the issuer's base URL (``/authorize`` and ``/token`` below it) and this
    # client. Unset outside production: the development issuer mounted at ``/dev-issuer``.
    # Production refuses to start without it, and never mounts the development issuer.
    citizen_oidc_issuer_url: str | None = None
    citizen_oidc_client_id: str = "ehr-citizen-portal"
    citizen_oidc_client_secret: str | None = None
    # the consent service, where a citizen's choices land (through its API, with their token)
    citizen_consent_url: str = "http://127.0.0.1:8003"
    # the journal, where a message to the care team is written (its API, the citizen's token)
    citizen_journal_url: str = "http://127.0.0.1:8004"
    # new notes are shown to the patient this long after they are signed (0: at once)
    citizen_note_hold_back_h: float = Field(default=0.0, ge=0)
    citizen_session_idle_min: float = Field(default=30.0, gt=0)
    # e-mail notifications (SMTP): unset host, no e-mail is sent
    citizen_smtp_host: str | None = "127.0.0.1"
    citizen_smtp_port: int = 8025
    citizen_mail_from: str = "ikke-svar@ehr.example"
    # tell a person this long before a consent they gave ends; look for such consents this often
    citizen_consent_expiry_notice_days: float = Field(default=14.0, gt=0)
    citizen_consent_expiry_check_s: float = Field(default=60.0, gt=0)
