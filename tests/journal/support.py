"""Builders shared by the journal's pure domain tests."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from services.journal.domain import events as ev
from services.journal.domain import patients as pt
from services.journal.domain.events import Name

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
TODAY = date(2026, 11, 29)
TEST_NUMBER = "15858512066"   # synthetic (Tenor, month + 80), born 15.05.1985


def registered(patient_id: uuid.UUID, *more: ev.EventPayload, given: str = "Kari",
               sex: str = "female") -> pt.Patient:
    """A patient registered 900 days ago, then ``more`` events."""
    reg = pt.register_patient(pt.Patient.unknown(patient_id), pt.RegisterPatient(
        national_id=TEST_NUMBER, name=Name(given=given, family="Nordmann"), sex=sex,
        address=pt.AddressIn(municipality="0301")), NOW - timedelta(days=900), production=False)
    return pt.fold(patient_id, [*reg, *more])


def then(p: pt.Patient, events: list[ev.EventPayload]) -> pt.Patient:
    for e in events:
        p = pt.evolve(p, e)
    return p
