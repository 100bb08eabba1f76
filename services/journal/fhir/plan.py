"""What reading an incoming FHIR Bundle produces: the ``Plan`` of one patient's entries, its
``Entry`` items, the ``IdPolicy`` that supplies national ids, addresses, ids and the clinician,
the errors, and the tables the mapping reads (``from_fhir.py``)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import ValidationError

from libs.kernel.identifiers import IdentifierSystem
from services.journal.domain.base import Command
from services.journal.domain.base import Clinician
from services.journal.domain.patients import AddressIn, RegisterPatient



Resource = dict[str, Any]
Kind = Literal["observation", "result", "condition", "coded_condition", "condition_resolved",
               "critical_info", "immunization", "encounter", "procedure", "report",
               "episode_started", "episode_ended", "care_plan", "goal", "death"]
KINDS: tuple[str, ...] = ("observation", "result", "condition", "coded_condition",
                          "condition_resolved", "critical_info", "immunization", "encounter",
                          "procedure", "report", "episode_started", "episode_ended",
                          "care_plan", "goal", "death")

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
BP_PANELS = ("55284-4", "85354-9")  # Synthea v2 uses 55284-4; the FHIR vital-signs profile 85354-9
BP_COMPONENTS = ("8480-6", "8462-4")
SAME_AS: dict[str, str] = {"8331-1": "8310-5"}  # oral temperature is a body temperature
MUNICIPALITY_EXT = "http://hl7.no/fhir/StructureDefinition/no-basis-municipalitycode"
FNR_SYSTEMS = (IdentifierSystem.FNR, "http://hl7.no/fhir/NamingSystem/FNR",
               IdentifierSystem.DNR, "http://hl7.no/fhir/NamingSystem/DNR")
FHIR_IN_NS = uuid.UUID("5b0c8f0e-3a57-4a1e-9a51-2f0d6c3e7a11")
"""The journal's namespace for ids derived from incoming resources (``IdPolicy``)."""

# UCUM unit of the journal -> {unit as sent: conversion}; exact conversions only
CONVERT: dict[str, dict[str, Callable[[float], float]]] = {
    "kg": {"kg": lambda v: v, "g": lambda v: v / 1000,
           "[lb_av]": lambda v: v * 0.45359237, "lb": lambda v: v * 0.45359237,
           "lbs": lambda v: v * 0.45359237},
    "Cel": {"Cel": lambda v: v, "°C": lambda v: v, "C": lambda v: v,
            "[degF]": lambda v: (v - 32) * 5 / 9, "°F": lambda v: (v - 32) * 5 / 9,
            "K": lambda v: v - 273.15},
    "mm[Hg]": {"mm[Hg]": lambda v: v, "mmHg": lambda v: v,
               "kPa": lambda v: v * 7.500615758},
    "/min": {"/min": lambda v: v, "{beats}/min": lambda v: v, "{Beats}/min": lambda v: v,
             "{beat}/min": lambda v: v, "beats/minute": lambda v: v,
             "{breaths}/min": lambda v: v, "{Breaths}/min": lambda v: v,
             "breaths/minute": lambda v: v, "1/min": lambda v: v},
    "%": {"%": lambda v: v},
}

NOT_JOURNAL: dict[str, str] = {
    "Claim": "Claim: not part of the journal",
    "ExplanationOfBenefit": "ExplanationOfBenefit: not part of the journal",
    "Coverage": "Coverage: not part of the journal",
    "MedicationRequest": "MedicationRequest: belongs to the medication service",
    "MedicationStatement": "MedicationStatement: belongs to the medication service",
    "MedicationAdministration": "MedicationAdministration: belongs to the medication service",
    "MedicationDispense": "MedicationDispense: belongs to the medication service",
    "Medication": "Medication: belongs to the medication service",
    "CareTeam": "CareTeam: not the municipal record's (who treats the patient is its care "
                "relations, kept by the consent service)",
    "ImagingStudy": "ImagingStudy: not the municipal record's (images stay in the hospital's "
                    "PACS; the record keeps the report, a DiagnosticReport)",
    "Device": "Device: not the municipal record's (implants are registered where they are "
              "fitted, aids by NAV Hjelpemiddelsentral)",
    "SupplyDelivery": "SupplyDelivery: not the municipal record's (a delivery of supplies is "
                      "logistics, not care)",
    "DocumentReference": "DocumentReference: the journal imports no documents",
    "Organization": "Organization: not imported (entries are attributed to the importing unit)",
    "Practitioner": "Practitioner: not imported (entries are attributed to the importing "
                    "clinician)",
    "PractitionerRole": "PractitionerRole: not imported (entries are attributed to the "
                        "importing clinician)",
    "Location": "Location: not imported",
    "Provenance": "Provenance: not imported",
}


class BundleError(ValueError):
    """The input is not a bundle this module can read; one readable sentence."""


class Unmappable(Exception):
    """A policy cannot supply a value for a resource; ``reason`` is counted in ``skipped``."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def skip_reason(kind: str, exc: Unmappable | ValidationError) -> str:
    """What ``skipped`` counts for a resource of ``kind`` not mapped: a policy's reason, or
    where and why one of the journal's own models refused a value (never the value)."""
    if isinstance(exc, Unmappable):
        return exc.reason
    e = exc.errors(include_url=False)[0]
    where = ".".join(str(x) for x in e.get("loc", ())) or kind
    return f"{kind}: {where} is not a value the journal can hold ({e.get('msg', 'invalid')})"


@dataclass(frozen=True)
class Identity:
    """The national id to register a patient with. ``alternatives`` are further numbers a caller
    may try, in order, when the first is already claimed by another patient (synthetic ids);
    ``replaced`` says what the policy replaced, when it did."""

    national_id: str = field(repr=False)
    assigner: str | None = None
    alternatives: tuple[str, ...] = field(default=(), repr=False)
    replaced: str | None = None


@dataclass(frozen=True)
class Placed:
    address: AddressIn
    replaced: str | None = None


@dataclass(frozen=True)
class Entry:
    """One journal command for the plan's patient. ``entity_id`` is the id the entry gets in the
    record (the observation, condition, critical information or episode); for
    ``condition_resolved`` and ``episode_ended`` it is the entry they close; ``None`` for a
    death. ``source`` names the resource it came from (``Observation/<id>``)."""

    kind: Kind
    command: Command
    by: Clinician
    entity_id: UUID | None
    source: str
    at: datetime
    left_out: tuple[str, ...] = ()
    """What of the resource was left out while the entry was kept (counted in the plan's
    ``replaced``, not as a skip)."""
    refers: tuple[str, ...] = ()   # a report's results, as references, until resolved


@dataclass
class Plan:
    """What one bundle means for the journal. ``registration`` is None when the bundle has no
    Patient or its Patient cannot be mapped (``skipped`` says why); ``alternatives`` are further
    national ids to try if the registration's is taken (``Identity.alternatives``)."""

    patient_id: UUID
    source: str
    registration: RegisterPatient | None = field(default=None, repr=False)
    alternatives: tuple[str, ...] = field(default=(), repr=False)
    entries: list[Entry] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    replaced: Counter[str] = field(default_factory=Counter)
    in_bundle: Counter[str] = field(default_factory=Counter)
    """How many resources of each type the bundle held (``import_summary.py``)."""

    def counts(self) -> Counter[str]:
        return Counter(e.kind for e in self.entries)


class IdPolicy:
    """Where a bundle's identifiers, address, ids and clinician come from.

    The base policy is for Norwegian data (the journal's FHIR endpoint): the national id is an
    identifier with the FNR/DNR system (or a local H-number, ``system = "HNR"`` with its
    assigner), the address must carry a kommunenummer (no-basis municipality extension on
    ``Address.district``), every entry is made by ``by``, and ids are ``uuid5(namespace,
    "<type>/<id>[#part]")`` so a repeated bundle maps to the same ids. ``now`` is the moment
    future dates are judged against.
    """

    def __init__(self, by: Clinician, now: datetime, namespace: UUID = FHIR_IN_NS):
        if now.tzinfo is None:
            raise ValueError("now must be an aware datetime")
        self.by, self.now, self.namespace = by, now, namespace

    def key(self, resource: Resource, fallback: str | None = None) -> str:
        rid = resource.get("id") or fallback
        if not rid:
            raise Unmappable(f"{resource.get('resourceType', 'Resource')}: no id and no fullUrl")
        return f"{resource.get('resourceType')}/{rid}"

    def patient_id(self, patient: Resource, fallback: str | None = None) -> UUID:
        return uuid.uuid5(self.namespace, self.key(patient, fallback))

    def entity_id(self, resource: Resource, part: str = "", fallback: str | None = None) -> UUID:
        return uuid.uuid5(self.namespace, self.key(resource, fallback) + (f"#{part}" if part
                                                                          else ""))

    def clinician(self, resource: Resource) -> Clinician:
        return self.by

    def identity(self, patient: Resource) -> Identity:
        for ident in patient.get("identifier") or []:
            system, value = ident.get("system"), ident.get("value")
            if not value:
                continue
            if system in FNR_SYSTEMS:
                return Identity(value)
            if system == IdentifierSystem.HNR:
                assigner = (ident.get("assigner") or {}).get("display")
                return Identity(value, assigner)
        raise Unmappable("Patient: no Norwegian national id (fødselsnummer, D- or H-number)")

    def address(self, patient: Resource) -> Placed:
        for a in patient.get("address") or []:
            district = a.get("_district")   # fhir.resources lets a primitive's element be odd
            exts = [*((district.get("extension") if isinstance(district, dict) else None)
                      or []), *(a.get("extension") or [])]
            code = next(((x.get("valueCoding") or {}).get("code") for x in exts
                         if isinstance(x, dict) and x.get("url") == MUNICIPALITY_EXT), None)
            if code:
                return Placed(AddressIn(lines=list(a.get("line") or [])[:4],
                                        postal_code=a.get("postalCode"), city=a.get("city"),
                                        municipality=code))
        raise Unmappable("Patient: no Norwegian address with a municipality number "
                         "(kommunenummer)")
