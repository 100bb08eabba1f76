"""The medication service's settings: the platform's (``libs/config.py``), its port and the
prescription intermediary rule."""

from __future__ import annotations

from pydantic import Field

from libs.config import Settings


class MedicationSettings(Settings):
    medication_port: int = 8005   # EHR_MEDICATION_PORT: where `ehr services start` runs it

    # a change of the list needs the patient's prescriptions fetched from the prescription
    # intermediary (RF) this recently (DOMAIN.md requirement 31); None: required in production
    # only, where an RF integration reports its fetches
    medication_rf_fetch_required: bool | None = None
    medication_rf_fetch_max_age_h: float = Field(default=4.0, gt=0)
