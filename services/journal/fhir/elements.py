"""The journal's own FHIR vocabulary (code systems, extensions, Norwegian display texts, the
state -> status tables) and the small pieces every mapper builds resources from
(``to_fhir.py`` says how each part of the record maps)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from uuid import UUID

from libs.kernel.identifiers import IdentifierSystem
from libs.web.fhir.elements import CODE_BASE, coding, instant
from services.journal.domain.clinical_state import Note
from services.journal.domain.codes.lists import DIAGNOSIS_SYSTEMS, IPLOS_SERVICE
from services.journal.domain.patients import Patient

CS_EPISODE_KIND = f"{CODE_BASE}/CodeSystem/episode-kind"
CS_NOTE_KIND = f"{CODE_BASE}/CodeSystem/note-kind"
CS_CRITICAL_CATEGORY = f"{CODE_BASE}/CodeSystem/critical-information-category"
CS_CRITICAL_STATUS = f"{CODE_BASE}/CodeSystem/critical-information-status"
CS_TASK_KIND = f"{CODE_BASE}/CodeSystem/task-kind"
EXT_CARE_PLAN_ACTIVITY = f"{CODE_BASE}/StructureDefinition/care-plan-activity"
EXT_CRITICAL_STATUS = f"{CODE_BASE}/StructureDefinition/critical-information-status"
DEVICE_SYSTEM = f"{CODE_BASE}/NamingSystem/device-client-id"  # a device's client id

NO_SD = "http://hl7.no/fhir/StructureDefinition"
EXT_MUNICIPALITY = f"{NO_SD}/no-basis-municipalitycode"
EXT_URBAN_DISTRICT = f"{NO_SD}/no-basis-urban-district"
CS_URBAN_DISTRICT = "urn:oid:2.16.578.1.12.4.1.1.3403"  # bydelsnummer (a code system)

THO = "http://terminology.hl7.org/CodeSystem"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
XHTML = "http://www.w3.org/1999/xhtml"

# Norwegian (bokmål) text shown to clinicians, in one place.
EPISODE_KIND_NO = {"home_care": "hjemmetjenester", "nursing_home": "sykehjem",
                   "gp": "fastlege", "legevakt": "legevakt", "hospital_stay": "sykehusopphold"}
NOTE_KIND_NO = {"nursing": "Sykepleienotat", "medical": "Legenotat",
                "home_care_visit": "Besøksnotat hjemmetjenester",
                "legevakt_contact": "Legevaktsnotat",
                "discharge_summary_received": "Mottatt epikrise"}
CRITICAL_STATUS_NO = {"registered": "registrert", "verified": "verifisert",
                      "refuted": "avkreftet", "removed": "slettet"}

CONTACT_CLASS = {"home_care_visit": ("HH", "home health"),
                 "legevakt_contact": ("EMER", "emergency")}
OBSERVATION_STATUS = {"final": "final", "amended": "amended",
                      "entered_in_error": "entered-in-error"}
ALLERGY_CATEGORIES = frozenset({"drug_reaction", "other_allergy"})
ALLERGY_VERIFICATION = {"registered": "unconfirmed", "verified": "confirmed",
                        "refuted": "refuted", "removed": "entered-in-error"}
ALLERGY_CLINICAL = {"registered": "active", "verified": "active", "refuted": "inactive"}
FLAG_STATUS = {"registered": "active", "verified": "active", "refuted": "inactive",
               "removed": "entered-in-error"}
CRITICALITY = {"mild": "low", "moderate": "low", "severe": "high"}
CARE_PLAN_STATUS = {"active": "active", "completed": "completed", "revoked": "entered-in-error"}
GOAL_LIFECYCLE = {"active": "active", "achieved": "completed", "not_achieved": "completed",
                  "cancelled": "cancelled"}
GOAL_ACHIEVEMENT = {"achieved": ("achieved", "Achieved"),
                    "not_achieved": ("not-achieved", "Not Achieved")}
ACTIVITY_STATUS = {"active": "in-progress", "stopped": "stopped", "completed": "completed"}
DIAGNOSIS_URI = {s.name: s.uri for s in DIAGNOSIS_SYSTEMS}
IPLOS_SERVICE_URI = IPLOS_SERVICE.uri
NOT_XML = re.compile(r"[^\t\n\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

Resource = dict[str, Any]


# --- small pieces ----------------------------------------------------------------------------

def concept(system: str, code: str, display: str | None = None) -> dict:
    return {"coding": [coding(system, code, display)]}


def practitioner_ref(hpr: str) -> dict:
    return {"type": "Practitioner", "identifier": {"system": IdentifierSystem.HPR, "value": hpr}}


def device_ref(client_id: str) -> dict:
    """A welfare-technology device by its client id (it has no HPR number)."""
    return {"type": "Device", "identifier": {"system": DEVICE_SYSTEM, "value": client_id},
            "display": client_id}


def subject_ref(p: Patient) -> dict:
    return {"reference": f"Patient/{p.patient_id}"}


def meta_element(meta: dict | None) -> dict:
    """``meta`` as FHIR wants it: versionId a string, lastUpdated an instant."""
    if not meta:
        return {}
    out = dict(meta)
    if "versionId" in out:
        out["versionId"] = str(out["versionId"])
    if isinstance(out.get("lastUpdated"), datetime):
        out["lastUpdated"] = instant(out["lastUpdated"])
    return {"meta": out}


def head(kind: str, id_: UUID, meta: dict | None) -> Resource:
    return {"resourceType": kind, "id": str(id_)} | meta_element(meta)


def iso_date(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


def drop_none(res: Resource) -> Resource:
    return {k: v for k, v in res.items() if v is not None and v != [] and v != {}}


def is_contact(note: Note) -> bool:
    """A signed visit or legevakt note: it stands for an ``Encounter``."""
    return note.status == "signed" and note.kind in CONTACT_CLASS
