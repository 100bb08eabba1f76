"""A small test-only aggregate (an account with deposits and withdrawals) and its projection.

The real services come in their own issues; this one exercises the backbone: decide/evolve,
appends with expected versions, the relay, projections, DLQ and upcasting.
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass

from pydantic import Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.events.envelope import Envelope
from libs.events.registry import EventPayload, Registry, event, upcaster
from libs.events.read_model import Projection
from libs.web.manifest import Manifest

TOPIC = "bank.events"


@event("bank.AccountOpened", topic="bank.events")
class AccountOpened(EventPayload):
    owner: str


# v1 had ``amount_nok`` in whole kroner; v2 counts øre so nothing is lost to rounding.
@event("bank.Deposited", version=2, topic="bank.events")
class Deposited(EventPayload):
    amount_ore: int = Field(gt=0)


@upcaster("bank.Deposited", from_version=1)
def deposited_v1_to_v2(data: dict) -> dict:
    return {"amount_ore": data.pop("amount_nok") * 100}


@event("bank.Withdrawn", topic="bank.events")
class Withdrawn(EventPayload):
    amount_ore: int = Field(gt=0)


class Overdrawn(Exception):
    pass


@dataclass(frozen=True)
class Account:
    opened: bool = False
    balance: int = 0
    version: int = 0


def evolve(state: Account, payload: EventPayload) -> Account:
    match payload:
        case AccountOpened():
            return Account(True, 0, state.version + 1)
        case Deposited(amount_ore=a):
            return Account(True, state.balance + a, state.version + 1)
        case Withdrawn(amount_ore=a):
            return Account(True, state.balance - a, state.version + 1)
    return state


def decide_withdraw(state: Account, amount: int) -> list[EventPayload]:
    if state.balance < amount:
        raise Overdrawn(f"balance {state.balance} < {amount}")
    return [Withdrawn(amount_ore=amount)]


def stream_of(account: uuid.UUID) -> str:
    return f"account-{account}"


class BalanceProjection(Projection):
    """Read model: one row per account with its balance and the number of events applied."""

    name = "bank_balances"

    def __init__(self, topic: str = TOPIC, *, poison_owner: str = "POISON"):
        self.topics = (topic,)
        self.poison_owner = poison_owner

    async def setup(self, conn: AsyncConnection) -> None:
        await conn.execute(text("""
            CREATE TABLE IF NOT EXISTS bank_balances (
                stream_id text PRIMARY KEY, owner text, balance bigint NOT NULL,
                events integer NOT NULL, last_version integer NOT NULL)"""))

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(text("TRUNCATE bank_balances"))

    async def apply(self, conn: AsyncConnection, env: Envelope, payload: EventPayload) -> None:
        if isinstance(payload, AccountOpened):
            if payload.owner == self.poison_owner:
                raise ValueError("this account cannot be applied (test poison)")
            await conn.execute(text("""
                INSERT INTO bank_balances VALUES (:s, :o, 0, 1, :v)"""),
                {"s": env.stream_id, "o": payload.owner, "v": env.stream_version})
            return
        delta = payload.amount_ore if isinstance(payload, Deposited) else -payload.amount_ore
        res = await conn.execute(text("""
            UPDATE bank_balances SET balance = balance + :d, events = events + 1,
                   last_version = :v
             WHERE stream_id = :s AND last_version = :v - 1"""),
            {"s": env.stream_id, "d": delta, "v": env.stream_version})
        if res.rowcount != 1:
            raise ValueError(f"{env.stream_id} v{env.stream_version} applied out of order")


EVENTS = Registry.of(sys.modules[__name__])   # the bank's events, for its stores and runners


def manifest(topic: str = TOPIC) -> Manifest:
    """The bank as a worker-only service, for the ``ehr`` command's tests (``build_app``)."""
    return Manifest(name="bank", title="test-only bank", events=(sys.modules[__name__],),
                    projections=lambda topic_of: [BalanceProjection(topic)])
