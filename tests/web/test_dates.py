"""Dates at the edge (issue 12, finding 5), parsed once at the edge for every service: ``as_of``
and ``day`` out of the plausible range are a 422 naming the parameter (they were 500s from an
overflow converting to UTC or adding a day); the kernel's clinical-time checks. No servers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from libs.kernel.errors import Invalid
from libs.kernel.time import clinical_day, clinical_time, local_day
from libs.web.errors import install_error_handlers
from libs.web.params import AsOf, day_query

Day = day_query("the day")
NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/read")
    async def read(as_of: AsOf = None, day: Day = None):
        # what the services do with them: to UTC, the next day
        return {"as_of": as_of.astimezone(UTC).isoformat() if as_of else None,
                "next": (day + timedelta(days=1)).isoformat() if day else None}

    return app


@pytest.fixture
async def client():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app()),
                                 base_url="http://t") as c:
        yield c


@pytest.mark.parametrize("as_of", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00",
                                   "2199-12-31T23:59:59-14:00", "1849-12-31T23:59:59Z"])
async def test_an_as_of_out_of_range_is_a_422_naming_it(client, as_of):
    r = await client.get("/read", params={"as_of": as_of})
    assert r.status_code == 422, r.text
    assert r.json()["issue"][0]["diagnostics"].startswith("query.as_of: an instant between")
    assert as_of not in r.text


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "2200-01-01", "1849-12-31"])
async def test_a_day_out_of_range_is_a_422_naming_it(client, day):
    r = await client.get("/read", params={"day": day})
    assert r.status_code == 422, r.text
    assert r.json()["issue"][0]["diagnostics"].startswith("query.day: a date between")


async def test_values_within_the_range_are_answered(client):
    r = await client.get("/read", params={"as_of": "2199-12-31T23:59:59+00:00",
                                          "day": "2199-12-31"})
    assert r.json() == {"as_of": "2199-12-31T23:59:59+00:00", "next": "2200-01-01"}
    r = await client.get("/read", params={"as_of": "1850-01-01T00:00:00Z", "day": "1850-01-01"})
    assert r.status_code == 200, r.text


def test_a_clinical_time_is_after_birth_and_not_after_now():
    born = date(1985, 5, 15)
    assert clinical_time("at", NOW, NOW, born) == NOW
    at_birth = datetime.fromisoformat("1985-05-15T00:10:00+02:00")   # 14 May in UTC
    assert clinical_time("at", at_birth, NOW, born) == at_birth
    for when, says in ((datetime.fromisoformat("0001-01-01T00:00:00+14:00"), "between"),
                       (datetime.fromisoformat("9999-12-31T23:59:59-14:00"), "between"),
                       (datetime.fromisoformat("1985-05-14T23:59:00+02:00"), "birth"),
                       (NOW + timedelta(seconds=1), "future")):
        with pytest.raises(Invalid, match=says):
            clinical_time("effective_at", when, NOW, born)
    assert clinical_time("at", NOW + timedelta(minutes=4), NOW, skew=timedelta(minutes=5))
    assert clinical_day("onset", local_day(NOW), NOW, born) == local_day(NOW)
    for day, says in ((date(1, 1, 1), "between"), (date(1985, 5, 14), "birth"),
                      (local_day(NOW) + timedelta(days=1), "future")):
        with pytest.raises(Invalid, match=says):
            clinical_day("onset", day, NOW, born)
