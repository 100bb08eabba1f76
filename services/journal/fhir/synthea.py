"""Synthea's synthetic US patients as Norwegian demo patients: the policy behind
``ehr import synthea`` (``services.journal.fhir.from_fhir`` does the FHIR mapping).

Synthea's identifiers are US ones (SSN, driver's licence, passport, MRN) and are never used: each
patient gets a SYNTHETIC Norwegian national id (Tenor-style, month + 80, never a real number) made
from its birth date and a slot derived from a hash of the Synthea ``Patient.id``. When that number
is already claimed by another patient, ``Identity.alternatives`` holds the next slots, tried in
order, so the outcome is deterministic. The US address becomes one of a few Norwegian demo
addresses, chosen by the same hash. Both are counted as replaced fields, not as skips.

Every id is ``uuid5(SYNTHEA_NS, "<type>/<synthea id>[#part]")``: importing a bundle twice maps to
the same patient and entries, which the second run finds already in the record.

DEMO VALUES, invented for this project and documented here: the importing clinician's HPR number
``IMPORTER_HPR`` ("1000001", not checked against Helsepersonellregisteret), the units
``IMPORT_UNIT`` (974600978) and ``LEGEVAKT_UNIT`` (987654325) (the demo units of
``cli/seed.py``; valid organisation numbers by checksum, not checked against
Enhetsregisteret), and the street names of ``DEMO_ADDRESSES``. The kommunenummer, postal codes
and places there are real; the addresses are not.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, datetime
from typing import Any

from libs.kernel.identifiers import synthetic_number
from libs.events.envelope import Actor
from services.journal.domain.base import Clinician
from services.journal.domain.patients import AddressIn
from services.journal.fhir.plan import Identity, IdPolicy, Placed, Unmappable

SYNTHEA_NS = uuid.UUID("4b6287b8-4c00-41e2-a1e8-4d089686781e")
IMPORTER_HPR = "1000001"        # demo value: the "Synthea importer"
IMPORT_UNIT = "974600978"       # demo value (home care unit of the demo municipality)
LEGEVAKT_UNIT = "987654325"     # demo value (legevakt of the demo municipality)
IMPORTER = Clinician(hpr=IMPORTER_HPR, unit=IMPORT_UNIT)
LEGEVAKT_IMPORTER = Clinician(hpr=IMPORTER_HPR, unit=LEGEVAKT_UNIT)
ACTOR = Actor(kind="system", id="import:synthea")
ALTERNATIVES = 8  # further synthetic numbers to try when one is taken

# (kommunenummer, postal code, place): real numbers and places; the street is invented
DEMO_ADDRESSES: tuple[tuple[str, str, str], ...] = (
    ("0301", "0150", "OSLO"),
    ("4601", "5003", "BERGEN"),
    ("5001", "7011", "TRONDHEIM"),
    ("1103", "4006", "STAVANGER"),
    ("5501", "9008", "TROMSØ"),
)
DEMO_STREET = "Demoveien"

REPLACED_ID = ("Patient.identifier: US identifiers (SSN, licence, passport) replaced by a "
               "synthetic Norwegian national id")
REPLACED_ADDRESS = "Patient.address: US address replaced by a Norwegian demo address"


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


class SyntheaPolicy(IdPolicy):
    def __init__(self, now: datetime):
        super().__init__(IMPORTER, now, SYNTHEA_NS)

    def clinician(self, resource: dict[str, Any]) -> Clinician:
        emergency = (resource.get("resourceType") == "Encounter"
                     and (resource.get("class") or {}).get("code") == "EMER")
        return LEGEVAKT_IMPORTER if emergency else IMPORTER

    def identity(self, patient: dict[str, Any]) -> Identity:
        try:
            birth = date.fromisoformat(patient.get("birthDate") or "")
        except ValueError:
            raise Unmappable("Patient: no birth date (the synthetic national id is made "
                             "from it)") from None
        slot = _hash(f"Patient/{patient.get('id')}")
        numbers: list[str] = []
        try:
            for k in range(ALTERNATIVES + 1):
                n = synthetic_number(birth, slot + k)
                if n not in numbers:
                    numbers.append(n)
        except ValueError:
            raise Unmappable(f"Patient: no synthetic national id exists for birth year "
                             f"{birth.year}") from None
        return Identity(numbers[0], None, tuple(numbers[1:]), REPLACED_ID)

    def address(self, patient: dict[str, Any]) -> Placed:
        h = _hash(f"address:Patient/{patient.get('id')}")
        municipality, postal, place = DEMO_ADDRESSES[h % len(DEMO_ADDRESSES)]
        return Placed(AddressIn(lines=[f"{DEMO_STREET} {h // len(DEMO_ADDRESSES) % 99 + 1}"],
                                postal_code=postal, city=place, municipality=municipality),
                      REPLACED_ADDRESS)
