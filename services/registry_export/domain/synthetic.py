"""A synthetic municipality's journal events (pure, seeded): people with service decisions,
IPLOS assessments, diagnoses, moves, deaths and refused applications.

Distributions (approximate, for plausible shapes, not for analysis):

- recipients' ages: about 60 % are 67 or older and a quarter are 80–89 (SSB, "Sjukeheimar,
  heimetenester og andre omsorgstenester", 2023: users of home services by age);
- sex: about 60 % women among recipients aged 67+ (same source);
- services: home services (codes 15, 1) most common, then alarms (6), long-term stays (21),
  short stays (18–20), day activities (4); about 1 in 12 applications refused (project's
  assumption);
- about 3 % of recipients move to another municipality and 8 % die in a year (project's
  assumption, of the order SSB's mortality tables give for 80-year-olds).

Every person's national id is a Tenor-style synthetic number (month + 80), never a real one.
"""

from __future__ import annotations

import functools
import random
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

from libs.events.registry import EventPayload
from libs.kernel.identifiers import PersonIdType, birth_century, make_synthetic
from services.journal import contract as j

AGE_WEIGHTS = ((5, 17, 3), (18, 49, 10), (50, 66, 12), (67, 79, 25), (80, 89, 33),
               (90, 102, 17))   # (low, high, weight %)
SERVICE_WEIGHTS = (("15", 35), ("1", 15), ("6", 14), ("21", 9), ("18", 4), ("19", 4),
                   ("20", 3), ("4", 5), ("5", 3), ("7", 2), ("8", 2), ("9", 2), ("11", 2))
ICPC2 = ("T90", "K86", "K77", "P70", "R95", "L89", "K90", "N87")
ICD10 = ("E119", "I10", "I509", "F03", "J449", "M179", "I639", "G20")
IPLOS_VARIABLES = (
    "social_participation", "daily_decisions", "own_health", "communication", "memory",
    "behaviour_control", "housework", "shopping", "cooking", "eating", "personal_hygiene",
    "dressing", "toilet", "moving_indoors", "moving_outdoors", "vision", "hearing")
FAMILY = ("Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Berg")
GIVEN = ("Kari", "Ola", "Ingrid", "Per", "Anne", "Knut", "Liv", "Arne", "Solveig", "Odd")


def _at(day: date) -> datetime:
    return datetime.combine(day, time(10, 0), tzinfo=UTC)


def _pick(rng: random.Random, weighted: tuple) -> object:
    return rng.choices([w[:-1] if len(w) > 2 else w[0] for w in weighted],
                       weights=[w[-1] for w in weighted])[0]


def test_number(born: date, slot: int) -> str:
    """A valid Tenor-style test number for ``born``, the ``slot``-th one: the individnummer
    ``7·slot`` along the year's range, or the next whose check digits exist. Made with one or
    two check-digit computations (``synthetic_number`` computes all thousand each call, which
    made 100k synthetic people take minutes)."""
    yy = born.year % 100
    individuals = _individuals(yy, born.year - yy)
    for step in range(len(individuals)):
        number = make_synthetic(born, individuals[(slot * 7 + step) % len(individuals)])
        if number is not None:
            return number
    raise ValueError(f"no test numbers exist for {born.isoformat()}")


@functools.cache
def _individuals(yy: int, century: int) -> tuple[int, ...]:
    """The individnummer range of the birth year (§6)."""
    return tuple(i for i in range(1000) if birth_century(i, yy) == century)


def person_events(rng: random.Random, *, slot: int, year: int, municipality: str,
                  others: tuple[str, ...] = (), provider: str = "974600951",
                  unit: str = "974600978") -> list[EventPayload]:
    """One person's events over ``year`` (and the year before), in stream order."""
    low, high = _pick(rng, AGE_WEIGHTS)
    born = date(year - rng.randint(low, high), rng.randint(1, 12), rng.randint(1, 28))
    sex = "female" if rng.random() < (0.6 if year - born.year >= 67 else 0.5) else "male"
    start = date(year - 1, 1, 1) + timedelta(days=rng.randint(0, 700))
    address = j.Address(municipality=municipality, postal_code="0150", city="Oslo")
    events: list[EventPayload] = [j.PatientRegistered(
        national_id=test_number(born, slot), id_type=PersonIdType.synthetic,
        name=j.Name(given=rng.choice(GIVEN), family=rng.choice(FAMILY)), birth_date=born,
        sex=sex, address=address, registered_at=_at(start - timedelta(days=30)))]
    assessment = UUID(int=rng.getrandbits(128))
    events.append(j.IplosAssessed(
        assessment_id=assessment, assessed_at=_at(start - timedelta(days=7)),
        scores={v: rng.choice((1, 2, 3, 3, 4, 5, 9)) for v in IPLOS_VARIABLES},
        assessed_by="9144889"))
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
        code = str(_pick(rng, SERVICE_WEIGHTS))
        decision = UUID(int=rng.getrandbits(128))
        events.append(j.ServiceApplied(decision_id=decision, service_code=code,
                                       applied_on=start - timedelta(days=14)))
        if rng.random() < 1 / 12:
            events.append(j.ServiceRefused(decision_id=decision, reason="Vilkår ikke oppfylt",
                                           decided_on=start))
            continue
        to = start + timedelta(days=rng.randint(30, 900)) if rng.random() < 0.4 else None
        events.append(j.ServiceGranted(
            decision_id=decision, service_code=code, from_date=start, to_date=to,
            scope=j.Scope(unit="hours_per_week", amount=rng.choice((1.5, 3.0, 7.5))),
            provider=provider, assessment_id=assessment, decided_on=start))
    for _ in range(rng.choice((0, 1, 1, 2))):
        system = rng.choice(("ICPC-2", "ICD-10"))
        code = rng.choice(ICPC2 if system == "ICPC-2" else ICD10)
        events.append(j.ConditionRecorded(
            condition_id=UUID(int=rng.getrandbits(128)), system=system, code=code,
            display=code, by="7123456", unit=unit, recorded_at=_at(start)))
    if others and rng.random() < 0.03:
        events.append(j.PatientDetailsChanged(
            address=j.Address(municipality=rng.choice(others)),
            changed_at=_at(start + timedelta(days=rng.randint(1, 300)))))
    if rng.random() < 0.08:
        died = min(start + timedelta(days=rng.randint(1, 400)), date(year, 12, 30))
        if died > start:
            events.append(j.PatientDeceased(deceased_on=died, recorded_at=_at(died)))
    return events
