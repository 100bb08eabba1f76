"""Counting users (pure): once per service group, on 31 December or over the year, where they
lived then; refused services, the dead and services not yet started do not count."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from libs.kernel.errors import Invalid
from libs.kernel.identifiers import PersonIdType
from services.journal import contract as j
from services.registry_export.domain.statistics import period_count, point_count
from tests.registry_export.support import envelopes, replay

AT = datetime(2024, 6, 1, 10, tzinfo=UTC)
TODAY = date(2026, 1, 5)


def person(born: date, sex: str, kommune: str, *events: j.EventPayload) -> list:
    pid = uuid.uuid4()
    return envelopes(pid, [j.PatientRegistered(
        national_id="01018012345", id_type=PersonIdType.synthetic,
        name=j.Name(given="A", family="B"), birth_date=born, sex=sex,
        address=j.Address(municipality=kommune), registered_at=AT), *events])


def granted(code: str, start: date, to: date | None = None) -> list[j.EventPayload]:
    d = uuid.uuid4()
    return [j.ServiceApplied(decision_id=d, service_code=code, applied_on=start),
            j.ServiceGranted(decision_id=d, service_code=code, from_date=start, to_date=to,
                             scope=j.Scope(unit="continuous"), provider="974600951",
                             assessment_id=uuid.uuid4(), decided_on=start)]


def test_users_are_counted_once_per_group_where_they_lived():
    people = replay([
        # two home services (15 and 1) are one user of home services; an alarm another group
        *person(date(1940, 3, 1), "female", "0301", *granted("15", date(2025, 2, 1)),
                *granted("1", date(2025, 3, 1)), *granted("6", date(2025, 3, 1))),
        # moved to 3201 in the autumn: counted there on 31.12
        *person(date(1950, 3, 1), "male", "0301", *granted("15", date(2025, 1, 10)),
                j.PatientDetailsChanged(address=j.Address(municipality="3201"),
                                        changed_at=datetime(2025, 9, 1, tzinfo=UTC))),
        # ended in June: in the year's count, not on 31.12
        *person(date(1930, 3, 1), "female", "0301",
                *granted("21", date(2025, 1, 1), to=date(2025, 6, 30))),
        # died in November: in the year's count only
        *person(date(1935, 3, 1), "male", "0301", *granted("21", date(2025, 1, 1)),
                j.PatientDeceased(deceased_on=date(2025, 11, 2), recorded_at=AT)),
        # refused, and granted from next year: never counted in 2025
        *person(date(1960, 3, 1), "female", "0301",
                j.ServiceApplied(decision_id=(d := uuid.uuid4()), service_code="15",
                                 applied_on=date(2025, 3, 1)),
                j.ServiceRefused(decision_id=d, reason="nei", decided_on=date(2025, 3, 9)),
                *granted("15", date(2026, 1, 2))),
    ]).values()
    point = point_count(people, 2025, TODAY).cells
    assert point == {("0301", "80-89", "female", "home"): 1,
                     ("0301", "80-89", "female", "technology"): 1,
                     ("3201", "67-79", "male", "home"): 1}
    year = period_count(people, 2025, TODAY).cells
    assert year == {**point, ("0301", "90+", "female", "institution"): 1,
                            ("0301", "90+", "male", "institution"): 1}


def test_a_point_count_of_a_year_not_ended_is_refused():
    with pytest.raises(Invalid, match="needs the year to have ended"):
        point_count([], 2025, date(2025, 12, 31))
    assert period_count([], 2025, date(2025, 12, 31)).cells == {}
