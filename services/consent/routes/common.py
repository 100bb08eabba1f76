"""What every route module of the consent service shares."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from libs.access.model import Practitioner
from services.consent import domain as d
from services.consent.handlers import PatientAccessStore


def patients(request: Request) -> PatientAccessStore:
    return request.app.state.patients


Patients = Annotated[PatientAccessStore, Depends(patients)]


def practitioner(who) -> Practitioner:
    if not isinstance(who, Practitioner):
        raise d.Refused(403, "Only health personnel can do this.")
    return who
