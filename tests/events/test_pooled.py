"""``pooled``: the driver's connection borrowed from the engine's pool without SQLAlchemy's
``AsyncConnection`` around it. It must come back to the pool after every block, and a connection
that died in the block or was left inside a transaction must not be lent again."""

from __future__ import annotations

import asyncio

import pytest

from libs.events.db import pooled


async def _backend_pid(engine) -> int:
    async with pooled(engine) as conn:
        return await conn.fetchval("SELECT pg_backend_pid()")


async def test_the_connection_comes_back_and_is_lent_again(engine):
    first = await _backend_pid(engine)
    for _ in range(20):
        assert await _backend_pid(engine) == first, "one connection serves one borrower at a time"
    assert engine.pool.checkedout() == 0


async def test_it_comes_back_when_the_block_raises(engine):
    with pytest.raises(ZeroDivisionError):
        async with pooled(engine) as conn:
            await conn.fetchval("SELECT 1")
            1 / 0   # noqa: B018 - the block fails after its statement
    assert engine.pool.checkedout() == 0
    async with pooled(engine) as conn:
        assert await conn.fetchval("SELECT 2") == 2


async def test_a_transaction_left_open_is_never_lent_to_the_next_borrower(engine):
    async with pooled(engine) as conn:
        await conn.execute("CREATE TABLE pooled_t (n int)")
    left = await _backend_pid(engine)
    async with pooled(engine) as conn:
        await conn.execute("BEGIN")
        await conn.execute("INSERT INTO pooled_t VALUES (1)")
    assert engine.pool.checkedout() == 0
    async with pooled(engine) as conn:
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT count(*) FROM pooled_t") == 0, \
            "the half-done insert was not committed by whoever came next"
        assert await conn.fetchval("SELECT pg_backend_pid()") != left, "that connection was dropped"


async def test_a_block_cancelled_inside_its_transaction_drops_the_connection(engine):
    async with pooled(engine) as conn:
        await conn.execute("CREATE TABLE pooled_c (n int)")
    started = asyncio.Event()

    async def slow() -> None:
        async with pooled(engine) as conn:
            await conn.execute("BEGIN")
            await conn.execute("INSERT INTO pooled_c VALUES (1)")
            started.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(slow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert engine.pool.checkedout() == 0
    async with pooled(engine) as conn:
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT count(*) FROM pooled_c") == 0


async def test_a_connection_that_died_in_the_block_is_not_lent_again(engine):
    async with pooled(engine) as conn:
        dead = await conn.fetchval("SELECT pg_backend_pid()")
        conn.terminate()
    assert engine.pool.checkedout() == 0
    async with pooled(engine) as conn:
        assert await conn.fetchval("SELECT pg_backend_pid()") != dead
