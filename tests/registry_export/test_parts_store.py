"""The registry's parts in PostgreSQL (``parts.py``) on a real server: a reader following the
changes by ``seq`` sees every part when writers commit concurrently, even a part whose ``seq``
was assigned before another writer's but committed after it; and a part is never written over
a newer version (a zombie worker writes nothing older)."""

from __future__ import annotations

import asyncio
import random
import uuid

from sqlalchemy import text

from services.registry_export import parts as store
from services.registry_export.domain.person import Person, part_key
from services.registry_export.state import PersonsView
from tests.support.waiting import eventually


def part(patient: uuid.UUID, stream: str, v: int) -> tuple[str, Person]:
    """A part at version ``v`` (its access count tells versions apart)."""
    return part_key(patient, stream), Person(patient_id=str(patient), accesses=v,
                                             seen={stream: v})


async def _waiting_for_a_lock(engine, schema: str) -> bool:
    """A connection of this test (``make_engine`` names them after the schema) waits for an
    advisory lock."""
    async with engine.connect() as conn:
        return bool((await conn.execute(text("""
            SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND NOT l.granted AND a.application_name = :n"""),
            {"n": f"ehr-{schema}"})).scalar_one())


def _seen(view: PersonsView) -> dict[str, int]:
    return {k: p.accesses for mine in view.parts().values() for k, p in mine.items()}


async def test_a_part_committed_late_is_not_missed(engine, schema, unique):
    app_id = f"registry-{unique}"
    early_key, early = part(uuid.uuid4(), "journal-a", 1)
    late_key, late = part(uuid.uuid4(), "journal-b", 1)
    async with PersonsView(engine, app_id) as view:
        async with engine.begin() as first:
            await store.save(first, app_id, {early_key: early})   # its seq taken, not committed

            async def second() -> None:
                async with engine.begin() as conn:
                    await store.save(conn, app_id, {late_key: late})
            other = asyncio.create_task(second())
            # the second writer has either committed or is waiting for the first one
            await eventually(lambda: other.done() or _waiting_for_a_lock(engine, schema), 30, 0.02,
                             "the second writer committed or waiting")
            await view.catch_up()   # a reader between the two commits
            assert _seen(view) == {}, "a part committed while an earlier seq was in flight"
        await asyncio.wait_for(other, 30)
        await view.catch_up()
        assert _seen(view) == {early_key: 1, late_key: 1}


async def test_a_reader_following_two_concurrent_writers_sees_every_part(engine, unique):
    app_id = f"registry-{unique}"
    patients = [uuid.uuid4() for _ in range(20)]
    versions: dict[str, int] = {}

    async def writer(stream: str, seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(40):
            batch = dict(part(p, stream, versions.get(part_key(p, stream), 0) + 1)
                         for p in rng.sample(patients, 4))
            for key, p in batch.items():
                versions[key] = p.accesses
            async with engine.begin() as conn:
                await store.save(conn, app_id, batch)

    async with PersonsView(engine, app_id) as view:
        writers = asyncio.gather(writer("journal-w1", 1), writer("journal-w2", 2))
        while not writers.done():   # a reader following the changes while they commit
            await view.catch_up()
            await asyncio.sleep(0)
        await writers
        await view.catch_up()
        assert _seen(view) == versions and len(versions) == 40
        async with engine.connect() as conn:   # and what it saw is what the table holds
            stored = dict((await conn.execute(text(
                "SELECT part_key, version FROM registry_parts WHERE app_id = :a"),
                {"a": app_id})).all())
        assert stored == versions


async def test_an_older_part_never_replaces_a_newer_one(engine, unique):
    app_id = f"registry-{unique}"
    key, newer = part(uuid.uuid4(), "journal-z", 3)
    _, older = part(uuid.UUID(newer.patient_id), "journal-z", 2)
    await store.setup(engine)
    async with engine.begin() as conn:
        await store.save(conn, app_id, {key: newer})
    async with engine.begin() as conn:   # a zombie worker, behind the owner
        await store.save(conn, app_id, {key: older})
    async with engine.connect() as conn:
        assert (await store.load(conn, app_id, [key]))[key].accesses == 3
        assert (await store.load(conn, f"{app_id}-v2", [key])) == {}   # another app id's
