"""Realistic device traffic for ``ehr welfare simulate`` (pure: a seeded random generator in,
FHIR resources out). Per device, over a span of event time ending now:

- a medicine dispenser reports a dose every 2 minutes (compressed from its daily schedule):
  dispensed (1.1) mostly, a missed dose (3.3) about one time in eight, "not dispensed, empty"
  (3.7) now and then;
- a safety alarm with sensors reports activity in a room (4.8), the door (4.15), and at
  plausible lower rates a button press (4.13) and a fall (4.1);
- a home-monitoring tablet reports SpO2 and heart rate every 2 minutes, and about one time in
  ten the measurement is missing (2.2).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.welfare.domain import codes

TECHNOLOGIES = ("medisindispenser", "trygghetsalarm", "digital hjemmeoppfølging")


@dataclass(frozen=True)
class SimDevice:
    client_id: str
    technology: str
    patient_id: str


def _flag(d: SimDevice, n: int, at: datetime, system: str, code: str, severity: int) -> dict:
    return {"resourceType": "Flag", "status": "active",
            "identifier": [{"value": f"{d.client_id}-{n}"}],
            "code": {"coding": [{"system": system, "code": code}]},
            "subject": {"reference": f"Patient/{d.patient_id}"},
            "period": {"start": at.isoformat()},
            "extension": [{"url": codes.SEVERITY_EXTENSION, "valueInteger": severity}]}


def _observation(d: SimDevice, n: int, at: datetime, code: str, value: float,
                 unit: str) -> dict:
    return {"resourceType": "Observation", "status": "final",
            "identifier": [{"value": f"{d.client_id}-{n}"}],
            "code": {"coding": [{"system": codes.LOINC, "code": code}]},
            "subject": {"reference": f"Patient/{d.patient_id}"},
            "effectiveDateTime": at.isoformat(),
            "valueQuantity": {"value": value, "unit": unit, "system": codes.UCUM,
                              "code": unit}}


def traffic(d: SimDevice, rnd: random.Random, start: datetime, minutes: int) -> list[dict]:
    """The device's readings over ``minutes`` from ``start``, in the order they happened."""
    out: list[dict] = []
    for minute in range(minutes):
        at = start + timedelta(minutes=minute, seconds=rnd.randint(0, 59))
        n = len(out)
        if d.technology == TECHNOLOGIES[0] and minute % 2 == 0:
            roll = rnd.random()
            code, sev = ("3.3", 2) if roll < 0.12 else ("3.7", 2) if roll < 0.15 else ("1.1", 1)
            system = codes.DISPENSE_SYSTEM if code == "1.1" else codes.ALERT_SYSTEM
            out.append(_flag(d, n, at, system, code, sev))
        elif d.technology == TECHNOLOGIES[1]:
            roll = rnd.random()
            if roll < 0.01:
                out.append(_flag(d, n, at, codes.ALERT_SYSTEM, "4.1", 3))
            elif roll < 0.04:
                out.append(_flag(d, n, at, codes.ALERT_SYSTEM, "4.13", 3))
            elif roll < 0.14:
                out.append(_flag(d, n, at, codes.ALERT_SYSTEM, "4.15", 1))
            elif roll < 0.74:
                out.append(_flag(d, n, at, codes.ALERT_SYSTEM, "4.8", 1))
        elif d.technology == TECHNOLOGIES[2] and minute % 2 == 0:
            if rnd.random() < 0.1:
                out.append(_flag(d, n, at, codes.DHO_SYSTEM, "2.2", 2))
            else:
                out.append(_observation(d, n, at, codes.SPO2, rnd.choice(
                    (99, 98, 97, 96, 95, 94, 93, 91)), "%"))
                out.append(_observation(d, n + 1, at, "8867-4", rnd.randint(55, 110), "/min"))
    return out
