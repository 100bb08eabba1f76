"""Who looked at my record (requirement 49), in plain words (pure): time, the clinician's name,
organisation, unit, the basis, and whether anything was changed. The citizen's own reads (the
portal reading on their behalf) are in the log but not on this page."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

BASES = {   # the policy's Basis -> (bokmål, English)
    "care_relation": ("Behandlingsrelasjon", "Care relation"),
    "emergency": ("Akuttilgang", "Emergency access"),
    "consent": ("Samtykke", "Consent"),
    "own_record": ("Egen journal", "Own record"),
    "guardian": ("Foresatt", "Guardian"),
    "mandate": ("Fullmakt", "Mandate"),
    "legal_demand": ("Lovhjemmel", "Legal demand"),
    "none": ("Ingen (avvist)", "None (refused)"),
}


def by_someone_else(doc: Mapping[str, Any], patient_id: str) -> bool:
    return not (doc.get("actor_kind") == "citizen" and doc.get("actor_id") == patient_id
                and not doc.get("acting_for"))


def entry(doc: Mapping[str, Any], name_of: Callable[[str | None], str | None],
          lang: str = "nb") -> dict:
    """One line of the page: ``name_of`` looks an HPR or organisation number up in the
    directory (None when it does not know it)."""
    en = lang == "en"
    basis = BASES.get(doc.get("legal_basis") or "none", (doc.get("legal_basis"),) * 2)
    if doc.get("emergency"):
        basis = BASES["emergency"]
    who = name_of(doc.get("hpr")) or doc.get("name") or (
        ("Health personnel " if en else "Helsepersonell ") + (doc.get("hpr") or "")).strip()
    if doc.get("actor_kind") == "citizen":
        who = "A proxy acting for you" if en else "En som handler på dine vegne"
    org, unit = doc.get("legal_entity"), doc.get("point_of_care")
    return {"at": doc["accessed_at"], "who": who, "hpr": doc.get("hpr"),
            "organisation": name_of(org) or org, "unit": name_of(unit) or unit,
            "basis": basis[1] if en else basis[0],
            "changed": doc.get("action") == "write",
            "refused": doc.get("outcome") == "deny"}
