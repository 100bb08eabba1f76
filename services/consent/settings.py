"""The consent service's settings: the platform's (``libs/config.py``) and its port."""

from __future__ import annotations

from libs.config import Settings


class ConsentSettings(Settings):
    consent_port: int = 8003   # EHR_CONSENT_PORT: where `ehr services start` runs it
