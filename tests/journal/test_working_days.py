"""Working days in Norway (Easter by the computus, the public holidays, daylight saving): when a
question's reply task is due (services/journal/domain/working_days.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from libs.access.policy import OSLO
from services.journal.domain import working_days as wd
from tests.journal.test_domain_messages import FRIDAY_15, oslo


# --- working days ----------------------------------------------------------------------------

def test_easter_by_the_computus():
    assert [wd.easter_sunday(y) for y in (2024, 2025, 2026, 2027, 2028, 2038)] == [
        date(2024, 3, 31), date(2025, 4, 20), date(2026, 4, 5), date(2027, 3, 28),
        date(2028, 4, 16), date(2038, 4, 25)]
    easter = pytest.importorskip("dateutil.easter")  # a cross-check, when it happens to be there
    assert all(wd.easter_sunday(y) == easter.easter(y) for y in range(1900, 2200))


def test_norwegian_public_holidays_2027():
    assert sorted(wd.public_holidays(2027)) == [
        date(2027, 1, 1), date(2027, 3, 25), date(2027, 3, 26), date(2027, 3, 28),
        date(2027, 3, 29), date(2027, 5, 1), date(2027, 5, 6), date(2027, 5, 16),
        date(2027, 5, 17), date(2027, 12, 25), date(2027, 12, 26)]  # Whit Monday is 17 May
    assert wd.is_working_day(date(2027, 12, 24)) and wd.is_working_day(date(2027, 12, 31))
    assert not wd.is_working_day(date(2027, 3, 27))  # a Saturday


@pytest.mark.parametrize(("moment", "n", "due"), [
    (FRIDAY_15, 3, oslo(2026, 12, 2, 23, 59, 59)),                   # Fri -> Mon Tue Wed
    (oslo(2026, 11, 30, 9), 3, oslo(2026, 12, 3, 23, 59, 59)),        # Mon -> Thu
    (oslo(2026, 11, 28, 10), 1, oslo(2026, 11, 30, 23, 59, 59)),      # Sat -> Mon
    (datetime(2026, 11, 26, 23, 30, tzinfo=UTC), 3,                   # Fri 00:30 in Oslo
     oslo(2026, 12, 2, 23, 59, 59)),
    (oslo(2027, 3, 24, 10), 3, oslo(2027, 4, 1, 23, 59, 59)),         # over Easter 2027
    (oslo(2027, 3, 24, 10), 5, oslo(2027, 4, 5, 23, 59, 59)),
    (oslo(2028, 5, 15, 12), 3, oslo(2028, 5, 19, 23, 59, 59)),        # Tue, (17 May), Thu, Fri
    (oslo(2027, 5, 14, 12), 1, oslo(2027, 5, 18, 23, 59, 59)),        # Fri -> (17 May) Tue
    (oslo(2026, 12, 23, 12), 3, oslo(2026, 12, 29, 23, 59, 59)),      # 24 Dec works, 25-26 not
    (oslo(2026, 12, 31, 12), 1, oslo(2027, 1, 4, 23, 59, 59)),        # over New Year
])
def test_working_days_after(moment, n, due):
    got = wd.working_days_after(moment, n)
    assert got == due and got.tzinfo is OSLO


def test_working_days_after_keeps_the_local_end_of_day_over_daylight_saving():
    due = wd.working_days_after(oslo(2027, 3, 24, 10), 3)
    assert due.utcoffset() == timedelta(hours=2)  # summer time began on 28 March
    assert due.astimezone(UTC) == datetime(2027, 4, 1, 21, 59, 59, tzinfo=UTC)


def test_working_days_after_needs_an_aware_moment_and_a_positive_count():
    with pytest.raises(ValueError, match="aware"):
        wd.working_days_after(datetime(2026, 11, 27, 15), 3)
    with pytest.raises(ValueError, match="at least 1"):
        wd.working_days_after(FRIDAY_15, 0)
