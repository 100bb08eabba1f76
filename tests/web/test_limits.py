"""Bounded requests (issue 12, finding 4), on a small app built by ``service_app`` exactly as the
services are, with a small body limit: a body over the limit is a 413 whether its length is
declared or it is chunked (and the rest is not read), a key twice in one JSON object is a 422
naming where, a NUL escape split across two chunks is found, and a Bundle over the entry limit
is a 413. No servers needed."""

from __future__ import annotations

import contextlib
import json
import re

import httpx
import pytest
from fastapi import Request
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.config import Settings
from libs.web.limits import NulScanner, duplicate_key, require_bundle_size
from libs.web.service import Options, service_app

LIMIT = 1000


@contextlib.asynccontextmanager
async def _no_runtime(app):
    yield


def make_app(reached: list[dict]):
    app = service_app(Settings(environment="test", max_body_bytes=LIMIT, max_bundle_entries=3),
                      Options(telemetry=False), "limits", _no_runtime, title="t",
                      description="t")

    @app.post("/things")
    async def things(thing: dict):
        reached.append(thing)
        return {"ok": True}

    @app.post("/fhir")
    async def bundle(request: Request, bundle: dict):
        require_bundle_size(bundle, 3)
        reached.append(bundle)
        return {"ok": True}

    return app


@pytest.fixture
def reached() -> list[dict]:
    return []


@pytest.fixture
async def client(reached):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app(reached)),
                                 base_url="http://t") as c:
        yield c


def _outcome(r: httpx.Response, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == code
    return body["issue"][0]["diagnostics"]


def _padded(size: int) -> bytes:
    body = b'{"text": ""}'
    return body[:-2] + b"x" * (size - len(body)) + body[-2:]


async def test_a_body_over_the_limit_with_its_length_declared_is_413(client, reached):
    assert (await client.post("/things", content=_padded(LIMIT),
                              headers={"Content-Type": "application/json"})).status_code == 200
    r = await client.post("/things", content=_padded(LIMIT + 1),
                          headers={"Content-Type": "application/json"})
    assert str(LIMIT) in _outcome(r, 413, "too-costly")
    assert len(reached) == 1


async def _chunks(total: int, size: int, pulled: list[int]):
    body = _padded(total)
    for start in range(0, total, size):
        pulled.append(start)
        yield body[start:start + size]


async def test_a_chunked_body_over_the_limit_is_413_without_reading_the_rest(client, reached):
    pulled: list[int] = []
    r = await client.post("/things", content=_chunks(20 * LIMIT, 100, pulled),
                          headers={"Content-Type": "application/json"})
    assert "Content-Length" not in r.request.headers   # chunked: counted as it arrives
    _outcome(r, 413, "too-costly")
    assert len(pulled) <= LIMIT // 100 + 1, f"read {len(pulled)} chunks of 200"
    assert reached == []
    pulled.clear()
    r = await client.post("/things", content=_chunks(LIMIT, 100, pulled),
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text


async def test_a_duplicate_key_is_a_422_naming_where(client, reached):
    r = await client.post("/things", content=b'{"a": 1, "a": 2}',
                          headers={"Content-Type": "application/json"})
    assert "body: the key 'a' appears more than once" in _outcome(r, 422, "invalid")
    r = await client.post("/fhir", content=json.dumps({"resourceType": "Bundle"})[:-1].encode()
                          + b', "entry": [{"resource": {}}, {"resource": {"id": "x", "id": "y"}}'
                          b"]}", headers={"Content-Type": "application/fhir+json"})
    assert "body.entry[1].resource: the key 'id'" in _outcome(r, 422, "invalid")
    # the same key in different objects is fine
    r = await client.post("/things", json={"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}]})
    assert r.status_code == 200, r.text
    assert reached == [{"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}]}]


async def _split(*parts: bytes):
    for p in parts:
        yield p


async def test_a_nul_escape_split_across_two_chunks_is_a_422(client, reached):
    for parts in ((b'{"text": "ab\\', b'u0000"}'), (b'{"text": "ab\\u00', b'00"}'),
                  (b'{"text": "ab\\\\\\', b'u0000"}'), (b'{"text": "ab\x00', b'"}')):
        r = await client.post("/things", content=_split(*parts),
                              headers={"Content-Type": "application/json"})
        assert "NUL" in _outcome(r, 422, "invalid"), parts
    # an escaped backslash then the text u0000 is no NUL, however it is split
    r = await client.post("/things", content=_split(b'{"text": "ab\\', b'\\u0000"}'),
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert reached == [{"text": "ab\\u0000"}]


_ESCAPED = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([b"\\", b"u", b"0", b"a", b'"', b"u0000"]), max_size=20),
       st.lists(st.integers(min_value=0, max_value=40), max_size=6))
def test_the_nul_scanner_finds_what_the_whole_body_holds_however_it_is_cut(pieces, cuts):
    body = b"".join(pieces)
    bounds = sorted({min(c, len(body)) for c in cuts})
    chunks = [body[a:b] for a, b in zip([0, *bounds], [*bounds, len(body)], strict=True)]
    scanner = NulScanner()
    assert any(scanner.feed(c) for c in chunks) == bool(_ESCAPED.search(body))
    assert len(scanner.carry) <= 6


async def test_a_bundle_over_the_entry_limit_is_413_before_any_work(client, reached):
    entry = {"resource": {"resourceType": "Observation"}}
    r = await client.post("/fhir", json={"resourceType": "Bundle", "entry": [entry] * 4})
    assert "4 entries" in _outcome(r, 413, "too-costly")
    assert reached == []
    r = await client.post("/fhir", json={"resourceType": "Bundle", "entry": [entry] * 3})
    assert r.status_code == 200, r.text


def test_duplicate_keys_found_at_any_depth_and_not_json_left_to_the_route():
    assert duplicate_key(b'[{"a": [1, {"b": 1, "c": {"d": 1, "d": 1}}]}]') == \
        "body[0].a[1].c: the key 'd' appears more than once"
    assert duplicate_key(b'{"a": 1, "b": 2}') is None
    assert duplicate_key(b"{not json") is None
    deep = b'{"a":' * 5000 + b"1" + b"}" * 5000
    assert duplicate_key(deep) is None
