"""The one write dependency (libs/web/write.py) on the in-memory stores: guard, If-Match (412,
428, 422), retries of a write without If-Match, domain errors as OperationOutcome, declared
accesses and the answer (ETag, consistency token). No PostgreSQL, no Kafka."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Request

import tests.support.bank as bank
from libs.access.events import CareRelationStarted
from libs.access.model import Basis, Practitioner, Role
from libs.audit.memory import InMemoryAccessLog, InMemoryFacts
from libs.events.memory import InMemoryEventStore
from libs.events.registry import Registry
from libs.events.streams import StreamStore
from libs.kernel.errors import Conflict
from libs.web.errors import install_error_handlers
from libs.web.guard import Access, current_subject, declared, install_access_handlers
from libs.web.write import Write, created, write
from libs.web.write import declared as declared_access

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
UNIT, ORG = "974600978", "123456785"
NURSE = Practitioner(person_id="nurse-1", hpr="9144889", org_parent=ORG, org_child=UNIT,
                     roles=frozenset({Role.nurse}))
STRANGER = Practitioner(person_id="x", hpr="7654321", org_parent="999999999",
                        org_child="987654325", roles=frozenset({Role.nurse}))


def _store(request: Request) -> StreamStore:
    return request.app.state.accounts


Deposit = Annotated[Write, Depends(write("accounts", store=_store, what="the account"))]
Withdraw = Annotated[Write, Depends(write("accounts", store=_store, what="the account",
                                          if_match="required"))]
Open = Annotated[Write, Depends(write(
    "accounts", store=_store, what="the account",
    authorize=declared_access(declared("account_opened", Basis.administration), "accounts")))]


def make_app(caller: Practitioner = NURSE) -> tuple[FastAPI, InMemoryEventStore,
                                                    InMemoryAccessLog, InMemoryFacts]:
    events = InMemoryEventStore(Registry.of(bank))
    log, facts = InMemoryAccessLog(), InMemoryFacts()
    app = FastAPI()
    install_error_handlers(app)
    install_access_handlers(app)
    app.state.accounts = StreamStore(events, stream_of=bank.stream_of,
                                     empty=lambda _: bank.Account(), evolve=bank.evolve)
    app.state.access = Access("bank", validator=None, facts=facts, logger=log,
                              clock=lambda: NOW)
    app.dependency_overrides[current_subject] = lambda: caller

    @app.post("/patients/{patient_id}/open", status_code=201)
    async def open_account(patient_id: uuid.UUID, w: Open):
        return await w.apply(lambda a: [bank.AccountOpened(owner="kari")],
                             body=created("owner"))

    @app.post("/patients/{patient_id}/deposits", status_code=201)
    async def deposit(patient_id: uuid.UUID, amount: int, w: Deposit):
        return await w.apply(lambda a: [bank.Deposited(amount_ore=amount)],
                             body={"deposited": amount})

    @app.post("/patients/{patient_id}/withdrawals")
    async def withdraw(patient_id: uuid.UUID, amount: int, w: Withdraw):
        def decide(account: bank.Account):
            if account.balance < amount:
                raise Conflict(f"The balance is {account.balance} øre: too little.")
            return [bank.Withdrawn(amount_ore=amount)]
        return await w.apply(decide, status=200, body={"withdrawn": amount})

    return app, events, log, facts


def care_relation(facts: InMemoryFacts, patient: uuid.UUID) -> None:
    facts.apply(patient, [CareRelationStarted(
        relation_id=uuid.uuid4(), unit=UNIT, org_parent=ORG, purpose="home care",
        basis="service_decision", started_at=NOW)])


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.fixture
def patient() -> uuid.UUID:
    return uuid.uuid4()


async def test_a_write_answers_its_version_and_token_and_is_logged(patient):
    app, events, log, facts = make_app()
    care_relation(facts, patient)
    async with client(app) as c:
        r = await c.post(f"/patients/{patient}/deposits", params={"amount": 500})
    assert r.status_code == 201, r.text
    assert r.headers["ETag"] == 'W/"1"'
    assert r.json()["deposited"] == 500
    assert r.json()["consistency_token"] == r.headers["X-Consistency-Token"]
    assert await events.version(bank.stream_of(patient)) == 1
    assert [p for p, _ in log.entries] == [patient]


async def test_a_stale_if_match_is_412_naming_the_current_version(patient):
    app, events, _, facts = make_app()
    care_relation(facts, patient)
    async with client(app) as c:
        for _ in range(2):
            await c.post(f"/patients/{patient}/deposits", params={"amount": 100})
        r = await c.post(f"/patients/{patient}/deposits", params={"amount": 100},
                         headers={"If-Match": 'W/"1"'})
        ok = await c.post(f"/patients/{patient}/deposits", params={"amount": 100},
                          headers={"If-Match": 'W/"2"'})
    assert r.status_code == 412
    issue = r.json()["issue"][0]
    assert "version 2" in issue["diagnostics"] and "The account has changed" in issue["diagnostics"]
    assert ok.status_code == 201 and ok.headers["ETag"] == 'W/"3"'
    assert await events.version(bank.stream_of(patient)) == 3


@pytest.mark.parametrize("header", [None, "*", " "])
async def test_a_write_that_requires_if_match_is_428_without_a_version(patient, header):
    app, events, _, facts = make_app()
    care_relation(facts, patient)
    async with client(app) as c:
        await c.post(f"/patients/{patient}/deposits", params={"amount": 100})
        r = await c.post(f"/patients/{patient}/withdrawals", params={"amount": 50},
                         headers={"If-Match": header} if header is not None else {})
    assert r.status_code == 428 and "If-Match" in r.text
    assert await events.version(bank.stream_of(patient)) == 1


@pytest.mark.parametrize("header", ['W/"x"', "latest", '"-1"'])
async def test_a_malformed_if_match_is_422(patient, header):
    app, _, _, facts = make_app()
    care_relation(facts, patient)
    async with client(app) as c:
        r = await c.post(f"/patients/{patient}/deposits", params={"amount": 100},
                         headers={"If-Match": header})
    assert r.status_code == 422 and r.json()["resourceType"] == "OperationOutcome"


async def test_a_domain_refusal_is_its_kinds_status_and_changes_nothing(patient):
    app, events, _, facts = make_app()
    care_relation(facts, patient)
    async with client(app) as c:
        await c.post(f"/patients/{patient}/deposits", params={"amount": 100})
        r = await c.post(f"/patients/{patient}/withdrawals", params={"amount": 500},
                         headers={"If-Match": 'W/"1"'})
    assert r.status_code == 409
    assert r.json()["issue"][0] == {"severity": "error", "code": "conflict",
                                    "diagnostics": "The balance is 100 øre: too little."}
    assert await events.version(bank.stream_of(patient)) == 1


async def test_writes_without_if_match_that_race_are_both_decided_and_kept(patient):
    app, events, _, facts = make_app()
    care_relation(facts, patient)
    async with client(app) as c:
        answers = await asyncio.gather(*(c.post(f"/patients/{patient}/deposits",
                                                params={"amount": n}) for n in (1, 2, 3, 4)))
    assert [a.status_code for a in answers] == [201] * 4
    assert sorted(a.headers["ETag"] for a in answers) == ['W/"1"', 'W/"2"', 'W/"3"', 'W/"4"']
    loaded = await app.state.accounts.history(patient)
    assert loaded.state.balance == 10


async def test_writes_with_the_same_if_match_that_race_one_wins_one_is_412(patient):
    app, events, _, facts = make_app()
    care_relation(facts, patient)
    async with client(app) as c:
        await c.post(f"/patients/{patient}/deposits", params={"amount": 100})
        answers = await asyncio.gather(*(c.post(
            f"/patients/{patient}/withdrawals", params={"amount": 10},
            headers={"If-Match": 'W/"1"'}) for _ in range(2)))
    assert sorted(a.status_code for a in answers) == [200, 412]
    assert await events.version(bank.stream_of(patient)) == 2


async def test_without_a_care_relation_it_is_403_logged_and_nothing_is_written(patient):
    app, events, log, facts = make_app(caller=STRANGER)
    care_relation(facts, patient)   # for the nurse's unit, not the stranger's
    async with client(app) as c:
        r = await c.post(f"/patients/{patient}/deposits", params={"amount": 100})
    assert r.status_code == 403
    assert await events.version(bank.stream_of(patient)) == 0
    assert len(log.entries) == 1 and log.entries[0][1].outcome == "deny"


async def test_a_declared_access_is_logged_before_the_append(patient):
    app, events, log, _ = make_app(caller=STRANGER)   # no facts needed: the writer declares
    async with client(app) as c:
        r = await c.post(f"/patients/{patient}/open")
    assert r.status_code == 201 and r.json()["owner"] == "kari"
    assert len(log.entries) == 1 and log.entries[0][1].reason == "account_opened"
    assert await events.version(bank.stream_of(patient)) == 1


def test_the_route_walk_finds_an_unguarded_patient_route_in_an_included_router():
    from fastapi import APIRouter

    from tests.support.routes import patient_routes, unguarded_routes

    app, *_ = make_app()
    leaky = APIRouter()

    @leaky.get("/patients/{patient_id}/balance")
    async def balance(patient_id: uuid.UUID):
        return {}

    outer = APIRouter()
    outer.include_router(leaky, prefix="/v1")
    app.include_router(outer)
    assert "/v1/patients/{patient_id}/balance" in patient_routes(app)
    assert unguarded_routes(app, ()) == ["['GET'] /v1/patients/{patient_id}/balance"]
