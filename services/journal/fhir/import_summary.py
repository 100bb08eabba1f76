"""An import's account per FHIR resource type: how many resources of each type the bundles held,
how many are in the journal now (written by this run or an earlier one), and why the rest are
not. Pure: the caller (``ehr import synthea``) counts, this module sorts and explains.

Billing resources (Claim, ExplanationOfBenefit, Coverage) and directory resources
(Organization, Practitioner, PractitionerRole, Location, ...) are counted and explained, never
imported: the journal records care, not its payment, and names clinicians and units by HPR and
organisation numbers. Every other type the journal does not keep is listed with the reason it is
not the municipal record's (``plan.NOT_JOURNAL``), not hidden.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

BILLING = frozenset({"Claim", "ExplanationOfBenefit", "Coverage"})
DIRECTORY = frozenset({"Organization", "Practitioner", "PractitionerRole", "Location",
                       "HealthcareService", "Endpoint"})
READ_BACK_NOTES = {
    "Observation": "a blood pressure panel is recorded as its two vital signs (systolic and "
                   "diastolic): FHIR reads it back as two Observations",
    "Condition": "an ICPC-2 / ICD-10 condition keeps every further coding (SNOMED CT, ...); a "
                 "SNOMED-CT-only one is kept as coded",
    "CarePlan": "kept as its source coded it (category, activities, the conditions it "
                "addresses); its activities are the plan's interventions",
    "Goal": "kept in the care plan that names it, and read back as a Goal of its own",
}


@dataclass(frozen=True)
class TypeRow:
    rtype: str
    in_bundles: int
    imported: int
    kind: str          # "clinical", "billing" or "directory"
    why: tuple[tuple[str, int], ...] = ()   # the reasons for the rest, with their counts

    @property
    def missing(self) -> int:
        return self.in_bundles - self.imported


def kind_of(rtype: str) -> str:
    return "billing" if rtype in BILLING else "directory" if rtype in DIRECTORY else "clinical"


def type_of(source: str) -> str:
    """The resource type of an entry's source (``Observation/<id>``)."""
    return source.split("/", 1)[0]


def reason_type(reason: str) -> str:
    """The resource type a skip reason is about: every reason starts with it (``Encounter class
    AMB: ...``, ``Claim: not part of the journal``, ``Observation refused: ...``)."""
    head = reason.split(":", 1)[0].split(" ", 1)[0]
    return head.split(".", 1)[0]


def by_type(in_bundles: Counter[str], imported: Iterable[str],
            skipped: Counter[str]) -> list[TypeRow]:
    """One row per resource type of the bundles: clinical types first (most first), then
    billing, then directory. ``imported`` are the sources (``Type/id``) of the resources the
    journal now holds; ``skipped`` the import's reasons with their counts."""
    held = Counter(type_of(s) for s in set(imported))
    reasons: dict[str, list[tuple[str, int]]] = {}
    for reason, n in sorted(skipped.items(), key=lambda x: (-x[1], x[0])):
        reasons.setdefault(reason_type(reason), []).append((reason, n))
    rows = [TypeRow(t, n, held[t], kind_of(t), tuple(reasons.get(t, ())))
            for t, n in in_bundles.items()]
    order = {"clinical": 0, "billing": 1, "directory": 2}
    return sorted(rows, key=lambda r: (order[r.kind], -r.in_bundles, r.rtype))


def not_reached(rows: Iterable[TypeRow]) -> list[TypeRow]:
    """Clinical types of which the journal holds fewer than the bundles did."""
    return [r for r in rows if r.kind == "clinical" and r.missing > 0]
