"""The workspace's settings: the platform's (``libs/config.py``), its port and address, the
sign-in (HelseID-shaped OIDC) and where the journal, the medication service and the consent
service answer."""

from __future__ import annotations

from pydantic import Field

from libs.config import Settings


class WorkspaceSettings(Settings):
    workspace_port: int = 8010   # EHR_WORKSPACE_PORT: where `ehr services start` runs it
    # the workspace's own address as the browser sees it (the OIDC redirect URI is built from it)
    workspace_public_url: str = "http://localhost:8010"
    # OIDC (HelseID): the issuer's base URL (``/authorize`` and ``/token`` below it) and this
    # client. Unset outside production: the development issuer mounted at ``/dev-helseid``.
    workspace_oidc_issuer_url: str | None = None
    workspace_oidc_client_id: str = "ehr-clinician-workspace"
    workspace_oidc_client_secret: str | None = None
    # the services whose APIs the pages read and write, as the clinician
    workspace_journal_url: str = "http://127.0.0.1:8004"
    workspace_medication_url: str = "http://127.0.0.1:8005"
    workspace_consent_url: str = "http://127.0.0.1:8003"
    workspace_session_idle_min: float = Field(default=30.0, gt=0)
