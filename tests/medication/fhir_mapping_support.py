"""What the medication FHIR mapping tests share: a realistic history of every
``medication.*`` event type decided by the domain against the sample catalogue, the list it
leaves, and checks of the R4 rules the fhir.resources models do not make."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Any

from fhir.resources.R4B.list import List as ListResource
from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.medicationstatement import MedicationStatement

from libs.kernel.identifiers import IdentifierSystem
from libs.kernel.time import OSLO
from libs.events.registry import EventPayload
from services.medication.fhir import resources
from services.medication.catalogue import sample_catalogue
from services.medication.domain import administration as adm
from services.medication.contract import ImportedCoding
from services.medication.domain import evolve as fl
from services.medication.domain import imported as imp
from services.medication.domain import medication_list as ml
from services.medication.domain import reconciliation as rec
from services.medication.catalogue.adapter import FestCatalogue
from services.medication.domain.state import MedicationList
from services.medication.manifest import MANIFEST
from tests.medication.domain_support import DEVICE, DOCTOR, NURSE, P, PHARMACY, dose

CATALOGUE = FestCatalogue(sample_catalogue())
PRODUCT = {p.name_form_strength: p.id for p in CATALOGUE.catalogue.products.values()}
Q = uuid.UUID("0190f0a0-0000-7000-8000-00000000f0b2")
OTHER_RESEPT_ID = uuid.UUID("0190f0a0-0000-7000-8000-00000000f0c3")
URI = "urn:ietf:rfc:3986"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
MODELS: dict[str, Any] = {"MedicationStatement": MedicationStatement,
                          "MedicationRequest": MedicationRequest,
                          "MedicationAdministration": MedicationAdministration,
                          "List": ListResource}
STATUS = {  # R4 required bindings the models do not check
    "MedicationStatement": {"active", "completed", "entered-in-error", "intended", "stopped",
                            "on-hold", "unknown", "not-taken"},
    "MedicationRequest": {"active", "on-hold", "cancelled", "completed", "entered-in-error",
                          "stopped", "draft", "unknown"},
    "MedicationAdministration": {"in-progress", "not-done", "on-hold", "completed",
                                 "entered-in-error", "stopped", "unknown"},
    "List": {"current", "retired", "entered-in-error"},
}
REQUEST_INTENT = {"proposal", "plan", "order", "original-order", "reflex-order", "filler-order",
                  "instance-order", "option"}
MEDICATION_EVENTS = {t for t in MANIFEST.registry().payloads if t.startswith("medication.")}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """An Oslo wall-clock time in November 2026."""
    return datetime(2026, 11, day, hour, minute, tzinfo=OSLO)


# --- a realistic history with every event type ---------------------------------------------------

class Story:
    """Decides commands against the list so far and folds what they return."""

    def __init__(self, patient_id: uuid.UUID = P):
        self.lst = MedicationList.empty(patient_id)
        self.events: list[EventPayload] = []

    def do(self, decide, command, by, now: datetime, **kw) -> list[EventPayload]:
        events = decide(self.lst, command, by, now, **kw)
        assert events, command
        for e in events:
            self.lst = fl.evolve(self.lst, e)
        self.events += events
        return events

    def prescribe(self, name: str, d, now: datetime, **kw) -> uuid.UUID:
        [e, *_] = self.do(ml.prescribe, ml.Prescribe(product_id=PRODUCT[name], dose=d, **kw),
                          DOCTOR, now, catalogue=CATALOGUE)
        return e.entry_id

    def give(self, entry_id, by, now: datetime, outcome: str = "given", **kw) -> uuid.UUID:
        [e] = self.do(adm.record_administration, adm.RecordAdministration(
            entry_id=entry_id, outcome=outcome, **kw), by, now)
        return e.administration_id


def _history() -> tuple[Story, dict[str, uuid.UUID]]:
    s, ids = Story(), {}
    ids["marevan"] = s.prescribe("Marevan tab 2,5 mg", dose(1, "tablett", "18:00"), at(20, 9),
                                 indication="atrieflimmer")
    ids["ibux"] = s.prescribe(  # interacts with warfarin: WarningsRecorded with the override
        "Ibux tab 400 mg", dose(1, "tablett", as_needed=True, max_per_day=3), at(20, 9, 5),
        end_on=date(2026, 11, 27), indication="ryggsmerter",
        override_reason="kortvarig bruk, INR følges")
    [e, *_] = s.do(ml.record_from_other_source, ml.RecordFromOtherSource(
        source="hospital_discharge", source_detail="Epikrise fra Haukeland 18.11.",
        product_id=PRODUCT["Selo-Zok depottab 50 mg"], prescription_id=OTHER_RESEPT_ID,
        dose=dose(1, "tablett", times_per_day=1, instructions="svelges hel"),
        indication="hypertensjon", start_on=date(2026, 11, 18)), DOCTOR, at(20, 9, 10),
        catalogue=CATALOGUE)
    ids["selozok"] = e.entry_id
    [e, *_] = s.do(ml.record_from_other_source, ml.RecordFromOtherSource(
        source="supplement", name="Tran", atc="A11CB", dose=dose(5, "ml", times_per_day=1)),
        DOCTOR, at(20, 9, 15), catalogue=CATALOGUE)
    ids["tran"] = e.entry_id
    ids["given"] = s.give(ids["marevan"], NURSE, at(20, 18, 30), scheduled_for=at(20, 18),
                          note="tatt med vann")
    ids["device"] = s.give(ids["selozok"], DEVICE, at(21, 8, 5), scheduled_for=at(21, 8),
                           device_event_id="evt-1")
    s.do(adm.record_dispensing, adm.RecordDispensing(entry_id=ids["marevan"], quantity=100),
         PHARMACY, at(21, 8, 30))
    s.do(ml.change_dose, ml.ChangeDose(  # warfarin with ibuprofen on the list: an override
        entry_id=ids["marevan"], dose=dose(1.5, "tablett", "18:00"), reason="INR høy",
        override_reason="kortvarig"), DOCTOR, at(21, 10), catalogue=CATALOGUE)
    ids["refused"] = s.give(ids["marevan"], NURSE, at(21, 18, 30), "refused",
                            scheduled_for=at(21, 18))
    ids["missed"] = s.give(ids["selozok"], NURSE, at(22, 8, 30), "missed",
                           scheduled_for=at(22, 8))
    ids["as_needed"] = s.give(ids["ibux"], NURSE, at(22, 12))
    s.do(ml.pause, ml.Pause(entry_id=ids["marevan"], reason="operasjon"), DOCTOR, at(22, 13))
    s.do(ml.resume, ml.Resume(entry_id=ids["marevan"], note="etter operasjon",
                              override_reason="kortvarig"), DOCTOR, at(24, 9),
         catalogue=CATALOGUE)
    s.do(ml.renew, ml.Renew(entry_id=ids["selozok"]), DOCTOR, at(24, 10), catalogue=CATALOGUE)
    s.do(ml.discontinue, ml.Discontinue(entry_id=ids["ibux"], reason="magesmerter"), DOCTOR,
         at(24, 11))
    s.do(rec.reconcile, rec.Reconcile(lines=[
        rec.ReconcileLine(source="medication_list", entry_id=ids["marevan"]),
        rec.ReconcileLine(source="patient", name="Tran", dose_text="en skje daglig")]),
        NURSE, at(24, 12), catalogue=CATALOGUE)
    s.do(rec.review, rec.ReviewMedication(reconciliation_version=1, summary="Ingen endring."),
         DOCTOR, at(24, 13))
    s.do(ml.change_dose, ml.ChangeDose(  # no prescription: none issued
        entry_id=ids["tran"], dose=dose(10, "ml", times_per_day=1)), DOCTOR, at(24, 14),
        catalogue=CATALOGUE)
    s.do(ml.pause, ml.Pause(entry_id=ids["selozok"], reason="lavt blodtrykk"), DOCTOR,
         at(24, 15))
    ids["levaxin"] = s.prescribe("Levaxin tab 50 µg", dose(1, "tablett", "07:00"), at(24, 16),
                                 start_on=date(2026, 11, 26))
    s.do(ml.change_dose, ml.ChangeDose(  # before it starts
        entry_id=ids["levaxin"], dose=dose(2, "tablett", "07:00"), reason="feil styrke"),
        DOCTOR, at(24, 16, 5), catalogue=CATALOGUE)
    s.do(ml.record_fetch, ml.RecordFetch(sources=["rf", "kj"]), DOCTOR, at(24, 17))
    [e] = s.do(imp.record_imported, imp.RecordImported(  # another record's, RxNorm-coded
        source_system=URI, source_id=f"urn:uuid:{OTHER_RESEPT_ID}",
        source_type="MedicationRequest", status="active", codings=[ImportedCoding(
            system=RXNORM, code="313782", display="Acetaminophen 325 MG Oral Tablet")],
        start_on=date(2019, 5, 30), dosage_text="ved behov", as_needed=True), NURSE,
        at(24, 18))
    ids["imported"] = e.statement_id
    return s, ids


STORY, IDS = _history()
HISTORY, FULL = STORY.events, STORY.lst
RESOURCES = resources.resources_of(FULL)


# --- R4 rules the models do not check ------------------------------------------------------------

def _walk(node, visit) -> None:
    if isinstance(node, dict):
        visit(node)
        for v in node.values():
            _walk(v, visit)
    elif isinstance(node, list):
        for v in node:
            _walk(v, visit)


def r4_rules(res: dict) -> None:
    """Required code sets and invariants fhir.resources does not check: lst-1, lst-2, mad-1,
    tim-10, qty-3, codings with system and code, references that point somewhere."""
    kind = res["resourceType"]
    assert res["status"] in STATUS[kind], res["status"]
    if kind == "MedicationRequest":
        assert res["intent"] in REQUEST_INTENT
    if kind == "List":
        assert res["mode"] in {"working", "snapshot", "changes"}
        assert "emptyReason" not in res or not res.get("entry")  # lst-1
        assert res["mode"] == "changes" or not any(  # lst-2
            "deleted" in x for x in res.get("entry", ()))
    if kind == "MedicationAdministration" and "dosage" in res:  # mad-1
        assert {"dose", "rateRatio", "rateQuantity"} & set(res["dosage"])

    def visit(node: dict) -> None:
        if "repeat" in node:  # tim-10
            assert not ("timeOfDay" in node["repeat"] and "when" in node["repeat"])
        for q in (node.get("doseQuantity"), node.get("numerator"), node.get("denominator")):
            assert q is None or "code" not in q or "system" in q  # qty-3
        for key in ("subject", "informationSource", "requester", "recorder", "actor", "item",
                    "request", "priorPrescription"):
            if isinstance(ref := node.get(key), dict):
                assert {"reference", "identifier", "display"} & set(ref), ref
        if "coding" in node:
            assert all(cd["system"] and cd["code"] for cd in node["coding"]), node
    _walk(res, visit)


def valid(res: dict | None) -> dict:
    assert res is not None
    MODELS[res["resourceType"]].model_validate(res)
    r4_rules(res)
    json.dumps(res)  # JSON-ready: no datetimes, UUIDs or tuples left
    return res


def the(kind: str, id_, lst: MedicationList = FULL, now: datetime | None = None) -> dict:
    return valid(resources.resource(lst, kind, id_, now))


def hpr(value: str) -> dict:
    return {"type": "Practitioner", "identifier": {"system": IdentifierSystem.HPR,
                                                   "value": value}}


def entry(name: str):
    return FULL.entry(IDS[name])


def request_ids(name: str) -> list[uuid.UUID]:
    return [p.prescription_id for p in entry(name).prescriptions]


# --- every resource is valid R4 ------------------------------------------------------------------


def _found(node, key: str) -> list[dict]:
    out: list[dict] = []

    def visit(n: dict) -> None:
        got = n.get(key)
        out.extend(got if isinstance(got, list) else [got] if isinstance(got, dict) else [])
    _walk(node, visit)
    return out
