"""FHIR search's parameters and stored search columns (issue 12, finding 6), without servers:
the ``_cursor`` a next link carries goes back and forth and anything else is refused; what a
version stores to be searched is what the search read from the resource before."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from libs.web.fhir.search import (
    Cursor, SearchParameterError, date_conditions, decode_cursor, token_values,
)
from libs.web.fhir.searchable import UNDATED, FhirType, search_columns

OBSERVATION = FhirType("observations", ("effectiveDateTime",))
CONDITION = FhirType("conditions", ("recordedDate", "onsetDateTime"))


@pytest.mark.parametrize("cursor", [
    Cursor(datetime(2026, 3, 1, 12, 30, 0, 123456, tzinfo=UTC), "0193abcd-1f0c"),
    Cursor(None, "obs-1"),
    Cursor(datetime(1, 1, 1, tzinfo=UTC), "x" * 200),
])
def test_a_cursor_goes_back_and_forth(cursor: Cursor):
    encoded = cursor.encode()
    assert "=" not in encoded and "/" not in encoded and "+" not in encoded   # URL-safe
    assert decode_cursor(encoded) == cursor


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode()


@pytest.mark.parametrize("raw", [
    "", "not a cursor", "%%%", _b64("[]"), _b64('["2026-01-01T00:00:00+00:00"]'),
    _b64('["2026-01-01T00:00:00", "id"]'),          # no offset
    _b64('["yesterday", "id"]'), _b64('[null, ""]'), _b64('[null, 5]'),
    _b64(f'[null, "{"x" * 201}"]'), _b64('{"date": null, "id": "x"}'),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
])
def test_a_malformed_cursor_is_a_readable_refusal(raw: str):
    with pytest.raises(SearchParameterError, match="_cursor: not a cursor this server gave"):
        decode_cursor(raw)


def test_date_conditions_keep_the_prefix_and_instant():
    assert date_conditions(["ge2026-01-01", "lt2026-02-01T10:00:00+01:00", "2026-01-05"]) == [
        ("ge", datetime(2026, 1, 1, tzinfo=UTC)),
        ("lt", datetime(2026, 2, 1, 10, tzinfo=timezone(timedelta(hours=1)))),
        ("eq", datetime(2026, 1, 5, tzinfo=UTC))]
    with pytest.raises(SearchParameterError, match="date:"):
        date_conditions(["ge20260101"])


def test_token_values_are_any_of_the_comma_separated():
    assert token_values(None) is None and token_values("") is None
    assert token_values(" a, b ,,a") == ["a", "b"]


def test_search_columns_are_what_the_search_reads():
    obs = {"resourceType": "Observation", "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
           "category": [{"coding": [{"system": "cat", "code": "vital-signs"}]}],
           "effectiveDateTime": "2026-03-01T13:00:00+01:00"}
    assert search_columns(OBSERVATION, obs) == (
        "2026-03-01T12:00:00+00:00",
        ["8867-4", "cat|vital-signs", "http://loinc.org|8867-4", "vital-signs"], ["final"])
    # the first date path present; a date is its midnight UTC; statuses of coded states
    cond = {"resourceType": "Condition", "onsetDateTime": "2025-12-01",
            "clinicalStatus": {"coding": [{"code": "active"}, {"system": "s"}]},
            "verificationStatus": {"coding": [{"code": "confirmed"}]}}
    assert search_columns(CONDITION, cond) == (
        "2025-12-01T00:00:00+00:00", [], ["active", "confirmed"])
    # no date, an unparsable one, and instants UTC cannot hold
    assert search_columns(OBSERVATION, {"effectiveDateTime": "soon"})[0] == UNDATED
    assert search_columns(None, obs)[0] == UNDATED
    assert search_columns(OBSERVATION, {"effectiveDateTime": "0001-01-01T00:00:00+14:00"})[0] \
        == "0001-01-01T00:00:00+00:00"
    assert search_columns(OBSERVATION, {"effectiveDateTime": "9999-12-31T23:00:00-14:00"})[0] \
        == "9999-12-31T23:59:59.999999+00:00"
