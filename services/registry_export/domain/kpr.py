"""The KPR annual extract (requirements 39–40, DOMAIN.md §5.1): which registrations of a year
go into it, and which are left out and why. Pure.

Selected: every service decision valid in the year (granted and running on some day of it) and
every refusal decided in it, of people alive on 1 January, with the person's kommune/bydel
(where they lived on 31 December, or on the day they died), the newest IPLOS assessment and the
diagnoses (ICPC-2/ICD-10) recorded by the end of the year and not resolved before it began.

Welfare technology in use (the welfare service's coverage of a technology, ``source ==
"welfare"``) is reported under its KPR code when no decision of that code is, and is left out
silently otherwise (the decision is the registration; DHO has no KPR code).

Left out, each with its reason (§5.1's validity rules): a ``fra_dato`` after its ``til_dato``;
a ``fra_dato`` before the birth year or after 31 December; an unknown tjenestekode; a service
that needs the provider's orgnr without one; people who died before the year; people without a
national id or a residence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from services.registry_export.domain.codes import PROVIDER_REQUIRED, SERVICE_CODES
from services.registry_export.domain.person import Assessment, Diagnosis, Person, Service
from services.registry_export.domain.statistics import active_between, service_end


@dataclass(frozen=True)
class Exclusion:
    patient_id: str
    decision_id: str | None
    reason: str


@dataclass
class KprPerson:
    national_id: str
    municipality: str
    district: str | None
    birth_year: int
    sex: str | None
    died_on: date | None
    services: list[Service] = field(default_factory=list)
    assessment: Assessment | None = None
    diagnoses: list[Diagnosis] = field(default_factory=list)


@dataclass
class Extract:
    year: int
    municipality: str | None
    persons: list[KprPerson]
    excluded: list[Exclusion]

    @property
    def services(self) -> int:
        return sum(len(p.services) for p in self.persons)


def in_year(s: Service, year: int) -> bool:
    first, last = date(year, 1, 1), date(year, 12, 31)
    if s.status == "refused":
        return s.decided_on is not None and first <= s.decided_on <= last
    if s.status not in ("granted", "ended") or s.from_date is None:
        return False
    end = service_end(s)
    return s.from_date <= last and (end is None or end >= first or end < s.from_date)


def invalid(s: Service, birth_year: int, year: int) -> str | None:
    """Why §5.1's validity rules reject the registration, or None."""
    if s.code not in SERVICE_CODES:
        return f"tjenestekode {s.code!r} is not a valid KPR service code"
    if s.status == "refused":
        return None
    assert s.from_date is not None
    if s.to_date is not None and s.from_date > s.to_date:
        return (f"fra_dato {s.from_date.isoformat()} is after til_dato "
                f"{s.to_date.isoformat()}")
    if not birth_year <= s.from_date.year <= year:
        return (f"fra_dato {s.from_date.isoformat()} is outside {birth_year} (birth year) to "
                f"31.12.{year}")
    if s.code in PROVIDER_REQUIRED and not s.provider:
        return f"tjenestekode {s.code} needs the provider's organisation number"
    return None


def select(people: Iterable[Person], national_ids: Mapping[str, str], year: int,
           municipality: str | None = None) -> Extract:
    first, last = date(year, 1, 1), date(year, 12, 31)
    persons: list[KprPerson] = []
    excluded: list[Exclusion] = []
    for p in sorted(people, key=lambda p: p.patient_id):
        candidates = sorted((s for s in p.services.values() if in_year(s, year)),
                            key=lambda s: (s.from_date or s.decided_on or first, s.decision_id))
        candidates = _with_welfare(candidates, first, last)
        if not candidates:
            continue
        where = p.residence_on(min(last, p.died_on or last))
        if municipality is not None and (where is None or where.municipality != municipality):
            continue
        why = _person_problem(p, national_ids, first)
        if why is not None or where is None or p.birth_year is None:
            excluded.append(Exclusion(p.patient_id, None, why or "no residence or birth year"))
            continue
        kept = []
        for s in candidates:
            problem = invalid(s, p.birth_year, year)
            if problem is None:
                kept.append(s)
            else:
                excluded.append(Exclusion(p.patient_id, s.decision_id, problem))
        if not kept:
            continue
        persons.append(KprPerson(
            national_id=national_ids[p.patient_id], municipality=where.municipality,
            district=where.district, birth_year=p.birth_year, sex=p.sex, died_on=p.died_on,
            services=kept, assessment=p.latest_assessment(last),
            diagnoses=sorted((d for d in p.diagnoses.values() if d.recorded_on <= last and (
                d.resolved_on is None or d.resolved_on >= first)),
                key=lambda d: (d.system, d.code, d.recorded_on))))
    return Extract(year, municipality, persons, excluded)


def _with_welfare(candidates: list[Service], first: date, last: date) -> list[Service]:
    """The journal's decisions, and the welfare technologies in use in the year (coverage) that
    KPR has a code for and no decision of the same code already reports: a coverage ended
    before it began, or a technology without a KPR code (DHO), is not a registration."""
    decided = {s.code for s in candidates if s.source == "decision"}
    return [s for s in candidates if s.source == "decision" or (
        s.code in SERVICE_CODES and s.code not in decided
        and active_between(s, first, last) is not None)]


def _person_problem(p: Person, national_ids: Mapping[str, str], first: date) -> str | None:
    if p.died_on is not None and p.died_on < first:
        return f"died {p.died_on.isoformat()}, before the reporting year"
    if p.patient_id not in national_ids:
        return "no national id known for the person"
    return None
