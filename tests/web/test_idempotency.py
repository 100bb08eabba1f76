"""``Idempotency-Key`` on the one write dependency, on the in-memory stores: a repeat answers
the first answer and appends nothing, a malformed key is a 400, the same key with another
request a 422, and the key is the caller's own. (The PostgreSQL path, with its transaction, is
tested on the real stack in tests/journal/test_idempotency_keys.py.)"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

import tests.support.bank as bank
from libs.access.model import Practitioner, Role
from libs.events.memory import InMemoryEventStore
from libs.web.guard import current_subject
from tests.web.test_write import ORG, UNIT, care_relation, client, make_app

OTHER_NURSE = Practitioner(person_id="nurse-2", hpr="1234563", org_parent=ORG, org_child=UNIT,
                           roles=frozenset({Role.nurse}))


@dataclass
class Bank:
    app: FastAPI
    events: InMemoryEventStore
    http: httpx.AsyncClient
    patient: uuid.UUID

    async def deposit(self, amount: int, key: str | bytes, **headers: str) -> httpx.Response:
        return await self.http.post(f"/patients/{self.patient}/deposits",
                                    params={"amount": amount},
                                    headers={"Idempotency-Key": key} | headers)

    async def version(self) -> int:
        return await self.events.version(bank.stream_of(self.patient))


@pytest.fixture
async def account() -> AsyncIterator[Bank]:
    """The bank's write routes, the nurse with a care relation to a new patient."""
    patient = uuid.uuid4()
    app, events, _, facts = make_app()
    care_relation(facts, patient)
    async with client(app) as http:
        yield Bank(app, events, http, patient)


async def test_a_repeat_gets_the_first_answer_and_appends_nothing(account: Bank):
    first = await account.deposit(500, "visit-1")
    again = await account.deposit(500, "visit-1")
    other = await account.deposit(500, "visit-2")
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["ETag"] == first.headers["ETag"] == 'W/"1"'
    assert again.headers["X-Consistency-Token"] == first.headers["X-Consistency-Token"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert other.headers["ETag"] == 'W/"2"'
    assert await account.version() == 2


async def test_concurrent_repeats_append_once(account: Bank):
    answers = await asyncio.gather(*(account.deposit(100, "same") for _ in range(5)))
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["consistency_token"] for a in answers}) == 1
    assert await account.version() == 1


@pytest.mark.parametrize("key", ["", " ", "x" * 129, "nøkkel", "a b", "a;b"])
async def test_a_malformed_key_is_400_and_writes_nothing(account: Bank, key):
    r = await account.deposit(100, key.encode())
    assert r.status_code == 400, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    assert "Idempotency-Key" in r.json()["issue"][0]["diagnostics"]
    assert await account.version() == 0


async def test_the_same_key_for_another_request_is_422(account: Bank):
    await account.deposit(100, "k")
    r = await account.deposit(999, "k")
    assert r.status_code == 422, r.text
    assert "different request" in r.json()["issue"][0]["diagnostics"]
    assert await account.version() == 1


async def test_a_refused_write_keeps_no_key_so_a_repeat_is_decided_again(account: Bank):
    stale = await account.deposit(100, "k", **{"If-Match": 'W/"3"'})
    fresh = await account.deposit(100, "k", **{"If-Match": 'W/"0"'})
    assert stale.status_code == 412 and fresh.status_code == 201
    assert await account.version() == 1


async def test_a_key_is_scoped_by_the_caller(account: Bank):
    mine = await account.deposit(100, "k")
    account.app.dependency_overrides[current_subject] = lambda: OTHER_NURSE
    theirs = await account.deposit(100, "k")
    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert await account.version() == 2
