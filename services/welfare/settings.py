"""The welfare service's settings: the platform's (``libs/config.py``), its port, the ingestion
bounds and who answers for quarantined data."""

from __future__ import annotations

from pydantic import Field

from libs.config import Settings


class WelfareSettings(Settings):
    welfare_port: int = 8008   # EHR_WELFARE_PORT: where `ehr services start` runs it
    # the most readings one request may carry (a gateway's batch); more is a 413
    welfare_max_batch: int = Field(default=100, ge=1, le=1000)
    # the unit that owns the welfare-technology service: it reviews quarantined data
    # (requirement 46) within this many hours
    welfare_service_owner_unit: str = Field(default="974600978", pattern=r"^\d{9}$")
    welfare_quarantine_review_h: float = Field(default=24.0, gt=0)
    # the alert rules (``ehr welfare worker``): the home-care unit that answers alarms, how
    # soon a red alarm is answered (requirement 45) and a follow-up task is due
    welfare_response_unit: str = Field(default="974600978", pattern=r"^\d{9}$")
    welfare_response_sla_min: float = Field(default=30.0, gt=0)
    welfare_follow_up_h: float = Field(default=24.0, gt=0)
    # the windowed rules (domain/windows.py): how late (in event time, behind the newest
    # reading of the person) a reading may come and still count in its window
    welfare_window_lateness_min: float = Field(default=60.0, ge=0, le=24 * 60)
    # back-pressure (http/pressure.py): ingestion requests written at once per process, and
    # the outbox backlog (events not yet on Kafka) above which devices are told to retry;
    # requests carrying a red alarm have this many places more (and twice the backlog); of
    # the requests taken, this many are written at once, red alarms first in line
    welfare_max_in_flight: int = Field(default=32, ge=1)
    welfare_max_backlog: int = Field(default=20_000, ge=1)
    welfare_urgent_reserve: int = Field(default=8, ge=0)
    welfare_max_working: int = Field(default=8, ge=1)
    # the live alert board (http/board.py): where it is reached, and its OIDC sign-in
    # (HelseID; the development issuer's clinician picker at /dev-helseid when unset, never in
    # production)
    welfare_public_url: str = "http://localhost:8008"
    welfare_oidc_issuer_url: str | None = None
    welfare_oidc_client_id: str = "ehr-welfare-board"
    welfare_oidc_client_secret: str | None = None
