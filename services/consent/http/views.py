"""What the API returns: plain JSON views of the facts and the access log."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from libs.access.model import Basis, Consent, Facts

# how a citizen reads the basis of an access (req 49): ordinary / consent / emergency / proxy
BASIS_FOR_CITIZEN = {
    Basis.care_relation: "ordinær (tjenstlig behov)",
    Basis.emergency: "akuttilgang (nødrett / samtykke)",
    Basis.consent: "samtykke",
    Basis.own_record: "deg selv",
    Basis.guardian: "foresatt",
    Basis.mandate: "fullmakt",
    Basis.duty_to_notify: "opplysningsplikt til barnevernet",
    Basis.device_assignment: "utstyr",
    Basis.administration: "registrering",
    Basis.log_control: "logg-kontroll",
    Basis.none: "avvist",
}

# how a care relation the patient sees in their log came about (issue 12)
RELATION_FOR_CITIZEN = {
    "care_relation_assigned": "tilgang tildelt av enhetsleder",
    "care_relation_self_declared": "tjenstlig behov erklært av helsepersonellet selv, "
                                   "kontrolleres av enhetsleder",
}


def consent_status(c: Consent, now: datetime) -> str:
    if c.withdrawn_at is not None and c.withdrawn_at <= now:
        return "withdrawn"
    if c.valid_from > now:
        return "pending"
    if c.valid_to is not None and c.valid_to <= now:
        return "expired"
    return "active"


def consent_view(c: Consent, now: datetime) -> dict[str, Any]:
    return c.model_dump(mode="json") | {"status": consent_status(c, now)}


def facts_view(f: Facts, now: datetime) -> dict[str, Any]:
    """The patient's own choices and who may act for them."""
    return {
        "patient_id": str(f.patient_id),
        "consents": [consent_view(c, now) for c in f.consents],
        "blocks": [b.model_dump(mode="json") | {"active": b.lifted_at is None}
                   for b in f.blocks],
        "restrictions": [r.model_dump(mode="json") | {"active": r.active(now)}
                         for r in f.restrictions],
        "mandates": [m.model_dump(mode="json") | {"active": m.active(now)} for m in f.mandates],
        "guardians": [g.model_dump(mode="json") | {"active": g.active(now)}
                      for g in f.guardians],
        "notifications": {"restricted_opened": f.notify_restricted_opened,
                          "emergency_access": f.notify_emergency_access},
        "consent_level": f.consent_level,
    }


def access_log_view(event_id: UUID, doc: dict[str, Any]) -> dict[str, Any]:
    """One line of "who looked at my record" (req 49)."""
    basis = Basis(doc.get("legal_basis", "none"))
    return {
        "id": str(event_id),
        "time": doc["accessed_at"],
        "who": doc.get("name") or doc.get("hpr") or doc["actor_kind"],
        "hpr": doc.get("hpr"),
        "actor_kind": doc["actor_kind"],
        "organisation": doc.get("legal_entity"),
        "unit": doc.get("point_of_care"),
        "basis": basis.value,
        "basis_text": BASIS_FOR_CITIZEN.get(basis, basis.value),
        "emergency": doc.get("emergency", False),
        "changed_data": doc["action"] in ("write", "manage"),
        "permitted": doc["outcome"] == "permit",
        "what": doc.get("category"),
        "service": doc["service"],
    } | ({"how": RELATION_FOR_CITIZEN[doc["reason"]], "purpose": doc.get("purpose_of_use")}
         if doc.get("reason") in RELATION_FOR_CITIZEN else {})
