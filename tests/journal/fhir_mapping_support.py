"""What the journal's FHIR mapping tests share (``test_fhir_mapping*.py``): a registered
patient's whole history with every journal event type, its folded state and resources, the
R4 rules the fhir.resources models do not check, and small readers of a resource."""

from __future__ import annotations

import base64
import json
import uuid
import xml.etree.ElementTree as ET
from typing import Any

from fhir.resources.R4B.allergyintolerance import AllergyIntolerance
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.composition import Composition
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.episodeofcare import EpisodeOfCare
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.goal import Goal
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.immunization import Immunization
from fhir.resources.R4B.procedure import Procedure
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.task import Task

from libs.kernel.identifiers import IdentifierSystem
from services.journal.domain import clinical as c
from services.journal.domain import patients as pt
from services.journal.domain.clinical_state import fold_observations
from services.journal.fhir import to_fhir as fhir
from services.journal.manifest import MANIFEST
from tests.journal.support import every_event

P = uuid.UUID("0190f0a0-0000-7000-8000-00000000f001")
Q = uuid.UUID("0190f0a0-0000-7000-8000-00000000f002")
UNIT = "974600978"
NURSE = c.Clinician(hpr="9144889", unit=UNIT)
DOCTOR = c.Clinician(hpr="7654321", unit=UNIT, physician=True)
HISTORY = every_event(P)
FULL = pt.fold(P, HISTORY)
OBS = fold_observations(HISTORY)   # folded on their own: not part of the patient's state
RESOURCES = fhir.resources_of(FULL, OBS.values())
MODELS: dict[str, Any] = {m.__name__: m for m in (
    Patient, EpisodeOfCare, Encounter, DocumentReference, Composition, Observation, Condition,
    AllergyIntolerance, Flag, CarePlan, Goal, Task, Immunization, Procedure, DiagnosticReport)}
JOURNAL_EVENTS = {t for t in MANIFEST.registry().payloads if t.startswith("journal.")}
STATUS = {  # R4 required bindings the models do not check
    "EpisodeOfCare": {"planned", "waitlist", "active", "onhold", "finished", "cancelled",
                      "entered-in-error"},
    "Encounter": {"planned", "arrived", "triaged", "in-progress", "onleave", "finished",
                  "cancelled", "entered-in-error", "unknown"},
    "DocumentReference": {"current", "superseded", "entered-in-error"},
    "Composition": {"preliminary", "final", "amended", "entered-in-error"},
    "Observation": {"registered", "preliminary", "final", "amended", "corrected", "cancelled",
                    "entered-in-error", "unknown"},
    "Flag": {"active", "inactive", "entered-in-error"},
    "CarePlan": {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error",
                 "unknown"},
    "Task": {"draft", "requested", "received", "accepted", "rejected", "ready", "cancelled",
             "in-progress", "on-hold", "failed", "completed", "entered-in-error"},
    "Immunization": {"completed", "entered-in-error", "not-done"},
    "Procedure": {"preparation", "in-progress", "not-done", "on-hold", "stopped", "completed",
                  "entered-in-error", "unknown"},
    "DiagnosticReport": {"registered", "partial", "preliminary", "final", "amended",
                         "corrected", "appended", "cancelled", "entered-in-error", "unknown"},
}


def _walk(node, visit) -> None:
    if isinstance(node, dict):
        visit(node)
        for v in node.values():
            _walk(v, visit)
    elif isinstance(node, list):
        for v in node:
            _walk(v, visit)


def r4_rules(res: dict) -> None:
    """Required code sets and invariants that fhir.resources does not check: ext-1, dom-2/3,
    obs-6, con-4, ait-1/2, cpl-3, well-formed XHTML narrative, references that point somewhere."""
    kind = res["resourceType"]
    if kind in STATUS:
        assert res["status"] in STATUS[kind], res["status"]
    if kind == "DocumentReference":
        assert res.get("docStatus") in {"preliminary", "final", "amended", "entered-in-error"}
    if kind == "Observation":
        assert ("dataAbsentReason" in res) != any(k.startswith("value") for k in res)  # obs-6
    if kind == "Condition" and "abatementDateTime" in res:  # con-4
        assert res["clinicalStatus"]["coding"][0]["code"] in {"inactive", "resolved", "remission"}
    if kind == "AllergyIntolerance":  # ait-1, ait-2
        in_error = res["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
        assert ("clinicalStatus" in res) != in_error
        assert res.get("criticality", "low") in {"low", "high", "unable-to-assess"}
    if kind == "Goal":
        assert res["lifecycleStatus"] in {"proposed", "planned", "accepted", "active", "on-hold",
                                          "completed", "cancelled", "entered-in-error",
                                          "rejected"}
    if kind == "CarePlan":
        assert res["intent"] in {"proposal", "plan", "order", "option"}
        for a in res.get("activity", ()):  # cpl-3
            assert ("reference" in a) != ("detail" in a)
    if kind == "Task":
        assert res["intent"] in {"unknown", "proposal", "plan", "order", "original-order",
                                 "reflex-order", "filler-order", "instance-order", "option"}
    text = json.dumps(res)
    for cont in res.get("contained", ()):  # dom-2, dom-3
        assert "contained" not in cont and f'"#{cont["id"]}"' in text

    def visit(node: dict) -> None:
        for ext in node.get("extension", ()):  # ext-1
            values = [k for k in ext if k.startswith("value")]
            assert ext["url"] and (len(values) == 1) != ("extension" in ext), ext
        for key in ("subject", "patient", "for", "author", "recorder", "party", "individual"):
            refs = node.get(key)
            for r in refs if isinstance(refs, list) else [refs] if isinstance(refs, dict) else []:
                assert {"reference", "identifier", "display"} & set(r), r
        if "coding" in node:
            assert all(cd["system"] and cd["code"] for cd in node["coding"]), node
        if "div" in node:
            root = ET.fromstring(node["div"])
            assert root.tag == "{http://www.w3.org/1999/xhtml}div" and "".join(root.itertext())
    _walk(res, visit)


def valid(res: dict) -> dict:
    MODELS[res["resourceType"]].model_validate(res)
    r4_rules(res)
    json.dumps(res)  # JSON-ready: no datetimes, UUIDs or tuples left
    return res


def the(p: pt.Patient, kind: str, entity_id) -> dict:
    res = (fhir.observation(p, OBS[entity_id]) if kind == "Observation"
           else fhir.resource(p, kind, entity_id))
    assert res is not None, (kind, entity_id)
    return valid(res)


def of_type(kind: str, p: pt.Patient = FULL, observations=OBS.values()) -> list[dict]:
    return [valid(r) for k, _, r in fhir.resources_of(p, observations) if k == kind]


def code(concept: dict) -> str:
    return concept["coding"][0]["code"]


def text_of(doc: dict) -> str:
    return base64.b64decode(doc["content"][0]["attachment"]["data"]).decode("utf-8")


def hpr(value: str) -> dict:
    return {"type": "Practitioner", "identifier": {"system": IdentifierSystem.HPR,
                                                   "value": value}}
