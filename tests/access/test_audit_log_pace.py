"""The access log's group commit keeps its connection busy (real PostgreSQL): the batch that
waited while another was written is under way before that one's requests get their answers,
so the next batch never queues on the event loop behind them."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from libs.audit.log import AccessLogger
from tests.access.test_audit_log import entry
from tests.support.waiting import eventually


@pytest.mark.parametrize("lanes", [1, 2], ids=["one lane", "two lanes"])
async def test_the_next_batch_is_sent_before_the_last_batch_s_requests_answer(engine, lanes):
    lg = AccessLogger(engine, "journal", lanes=lanes)
    await lg.start()
    a, b = uuid.uuid4(), uuid.uuid4()
    try:
        for p in (a, b):   # both chains' heads known: no look-up before a batch's statement
            await lg.log(entry(p), p)
        seen: list[str] = []
        append = lg.store.append_written_in

        async def recorded(conn, batch, **kw):
            seen.append("batch " + ",".join(str(w.stream_id) for w in batch))
            await append(conn, batch, **kw)

        lg.store.append_written_in = recorded   # the real statement, its start recorded

        async def request(p: uuid.UUID, name: str) -> None:
            await lg.log(entry(p, 1), p)
            seen.append(f"{name} answered")

        async with engine.connect() as holder:   # a's chain held: its batch waits in PostgreSQL
            await holder.exec_driver_sql(
                f"SELECT 1 FROM streams WHERE stream_id = '{lg.stream_of(a)}' FOR UPDATE")
            first = asyncio.create_task(request(a, "a"))
            await eventually(lambda: seen == [f"batch {lg.stream_of(a)}"])
            second = asyncio.create_task(request(b, "b"))
            await eventually(lambda: len(lg._queue) == 1 or len(seen) > 1)
            await holder.rollback()
        await asyncio.gather(first, second)
    finally:
        await lg.stop()
    if lanes == 1:   # b waited for the lane, and went as soon as a's batch was committed
        assert seen == [f"batch {lg.stream_of(a)}", f"batch {lg.stream_of(b)}", "a answered",
                        "b answered"]
    else:            # the other lane took b at once
        assert seen[:2] == [f"batch {lg.stream_of(a)}", f"batch {lg.stream_of(b)}"]
        assert seen.index("b answered") < seen.index("a answered")
