"""Research data sets (requirement 43, DOMAIN.md §5.3), the pure part: rows, pseudonyms,
generalisation and k-anonymity.

- One row per service registration valid in a year (granted or refused), for a person with a
  national id.
- The national id becomes ``HMAC-SHA256(project key, national id)``: the same person has the
  same pseudonym within a project and unrelated ones across projects; without the key nobody
  can link it back.
- Direct identifiers are dropped (national id, internal patient id, names never reach the
  registry); the birth year becomes an age band; dates become months; diagnoses become their
  ICPC-2/ICD-10 chapter; municipalities with fewer than ``k`` people in the year are grouped as
  "other".
- k-anonymity over the quasi-identifiers (year, municipality, age band, sex): every
  combination must be shared by at least ``k`` people; the rows of people in smaller groups are
  suppressed and counted in the report.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from services.registry_export.domain.codes import GROUP_OF, age_band, sex_category
from services.registry_export.domain.kpr import in_year
from services.registry_export.domain.person import Person

QUASI = ("year", "municipality", "age_band", "sex")
OTHER = "other"
COLUMNS = ("year", "municipality", "pseudonym", "age_band", "sex", "service_code",
           "service_group", "decision", "from_month", "to_month", "iplos_heavy_needs",
           "diagnosis_chapters", "active_medicines", "died_in_year")


def pseudonym(key: bytes, national_id: str) -> str:
    return hmac.new(key, national_id.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class KReport:
    k: int
    rows: int
    people: int
    suppressed_rows: int
    suppressed_people: int
    grouped_municipalities: tuple[str, ...]
    smallest_class: int


def _month(d: date | None) -> str | None:
    return None if d is None else f"{d.year:04d}-{d.month:02d}"


def rows_for(people: Iterable[Person], national_ids: Mapping[str, str], key: bytes,
             years: Iterable[int]) -> list[dict]:
    rows = []
    for p in people:
        nid = national_ids.get(p.patient_id)
        if nid is None or p.birth_year is None or not p.residence:
            continue
        alias = pseudonym(key, nid)
        for year in years:
            last = date(year, 12, 31)
            services = [s for s in p.services.values() if in_year(s, year)]
            if not services:
                continue
            where = p.residence_on(min(last, p.died_on or last))
            assessment = p.latest_assessment(last)
            heavy = None if assessment is None else sum(
                1 for v in assessment.scores.values() if v in (4, 5))
            chapters = ",".join(sorted({d.code[0] for d in p.diagnoses.values()
                                        if d.recorded_on <= last}))
            for s in sorted(services, key=lambda s: s.decision_id):
                rows.append({
                    "pseudonym": alias, "year": year, "municipality": where.municipality,
                    "age_band": age_band(year - p.birth_year), "sex": sex_category(p.sex),
                    "service_code": s.code, "service_group": GROUP_OF.get(s.code, OTHER),
                    "decision": "refused" if s.status == "refused" else "granted",
                    "from_month": _month(s.from_date), "to_month": _month(s.to_date),
                    "iplos_heavy_needs": heavy, "diagnosis_chapters": chapters or None,
                    "active_medicines": len(p.medicines),
                    "died_in_year": p.died_on is not None and p.died_on.year == year})
    return rows


def anonymise(rows: list[dict], k: int) -> tuple[list[dict], KReport]:
    """Group rare municipalities, then suppress the people in quasi-identifier groups smaller
    than ``k``; the rows left, sorted, and what was done."""
    people_in: dict[tuple, set[str]] = {}
    for r in rows:
        people_in.setdefault((r["year"], r["municipality"]), set()).add(r["pseudonym"])
    rare = {ym for ym, who in people_in.items() if len(who) < k}
    grouped = [dict(r, municipality=OTHER) if (r["year"], r["municipality"]) in rare else r
               for r in rows]
    classes: dict[tuple, set[str]] = {}
    for r in grouped:
        classes.setdefault(tuple(r[q] for q in QUASI), set()).add(r["pseudonym"])
    kept = [r for r in grouped if len(classes[tuple(r[q] for q in QUASI)]) >= k]
    kept.sort(key=lambda r: tuple("" if r[c] is None else str(r[c]) for c in COLUMNS))
    sizes = Counter({c: len(w) for c, w in classes.items() if len(w) >= k})
    everyone = {r["pseudonym"] for r in rows}
    left = {r["pseudonym"] for r in kept}
    return kept, KReport(k=k, rows=len(kept), people=len(left),
                         suppressed_rows=len(rows) - len(kept),
                         suppressed_people=len(everyone - left),
                         grouped_municipalities=tuple(sorted({m for _, m in rare})),
                         smallest_class=min(sizes.values(), default=0))
