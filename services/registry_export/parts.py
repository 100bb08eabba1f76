"""The registry's parts in PostgreSQL (``registry_parts``, the service's schema): the faust
worker's state (``worker.py``) and what every reader follows (``state.py``).

One row a part: ``(app id, <patient id>/<stream id>) -> version, part JSON, seq``. The app id
keeps a rebuild (``ehr registry worker --app-id registry-export-v2``) apart from the worker it
replaces. A part at version *v* is the fold of its stream's first *v* events whoever wrote it,
so :func:`save` never replaces a newer version (``WHERE stored.version < excluded.version``):
a worker that lost its partitions in a rebalance and still writes (a zombie) writes nothing
older than what the owner wrote.

**Following the changes.** Every row written takes the next value of ``registry_parts_seq``,
and a reader asks for the rows past the last ``seq`` it has seen. A sequence alone would miss
rows: writer A takes 5, writer B takes 6 and commits first, a reader sees 6 and moves past 5
before A commits it. So :func:`save` takes a transaction-scoped advisory lock of the app id
right before it assigns any value, and holds it until its commit: a writer can only take
values after every earlier writer of the app has committed, so commit order is ``seq`` order
and a row becomes visible only after every row with a smaller ``seq`` (tested with two writers
and a reader, ``tests/registry_export/test_parts_store.py``). Rolled-back values leave holes,
which readers do not mind. The lock is taken after the batch's reads and folding, so writers
wait for each other only for one statement and their commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.registry_export.domain.person import Person, version

DDL = (
    "CREATE SEQUENCE IF NOT EXISTS registry_parts_seq",
    """CREATE TABLE IF NOT EXISTS registry_parts (
           app_id text NOT NULL, part_key text NOT NULL, version bigint NOT NULL,
           part jsonb NOT NULL, seq bigint NOT NULL,
           PRIMARY KEY (app_id, part_key))""",
    "CREATE INDEX IF NOT EXISTS registry_parts_by_seq ON registry_parts (app_id, seq)",
)
PAGE = 5000         # rows a reader takes per query
_LOCK_CLASS = 0x7265   # advisory locks of this module: (class, hashtext(what))
_SETUP = text("SELECT pg_advisory_xact_lock(:c, hashtext('registry_parts ddl'))")
_ORDER = text("SELECT pg_advisory_xact_lock(:c, hashtext(:a))")
_LOAD = text("""
    SELECT p.part_key, p.version, CASE WHEN p.version = k.held THEN NULL ELSE p.part::text END
      FROM unnest(CAST(:k AS text[]), CAST(:h AS bigint[])) AS k(part_key, held)
      JOIN registry_parts p ON p.app_id = :a AND p.part_key = k.part_key""")
_SAVE = text("""
    INSERT INTO registry_parts (app_id, part_key, version, part, seq)
    SELECT :a, k, v, CAST(j AS jsonb), nextval('registry_parts_seq')
      FROM unnest(CAST(:k AS text[]), CAST(:v AS bigint[]), CAST(:j AS text[])) AS t(k, v, j)
    ON CONFLICT (app_id, part_key) DO UPDATE
       SET version = excluded.version, part = excluded.part, seq = excluded.seq
     WHERE registry_parts.version < excluded.version""")
_SINCE = text("""
    SELECT part_key, part::text, seq FROM registry_parts
     WHERE app_id = :a AND seq > :s ORDER BY seq LIMIT :n""")


async def setup(engine: AsyncEngine) -> None:
    """Create the table (once; workers and readers may start together)."""
    async with engine.begin() as conn:
        await conn.execute(_SETUP, {"c": _LOCK_CLASS})
        for ddl in DDL:
            await conn.execute(text(ddl))


async def load(conn: AsyncConnection, app_id: str, keys: Iterable[str],
               held: Mapping[str, Person] | None = None) -> dict[str, Person]:
    """The stored parts of ``keys`` (one query); a key with no part is left out. A part in
    ``held`` (parsed before) at the stored version is taken from there, not parsed again: a
    part at version *v* is the same whoever wrote it."""
    held = held or {}
    keys = sorted(set(keys))
    versions = [version(held[k]) if k in held else -1 for k in keys]
    rows = await conn.execute(_LOAD, {"a": app_id, "k": keys, "h": versions})
    return {key: held[key] if part is None else Person.model_validate_json(part)
            for key, v, part in rows}


async def save(conn: AsyncConnection, app_id: str, parts: Mapping[str, Person]) -> None:
    """Write ``parts`` (one statement) in the caller's transaction, each only over an older
    version; commit order is ``seq`` order from here to the commit (the module's docstring)."""
    if not parts:
        return
    keys = sorted(parts)
    await conn.execute(_ORDER, {"c": _LOCK_CLASS, "a": app_id})
    await conn.execute(_SAVE, {"a": app_id, "k": keys,
                               "v": [version(parts[k]) for k in keys],
                               "j": [parts[k].model_dump_json() for k in keys]})


async def since(conn: AsyncConnection, app_id: str, seq: int,
                limit: int = PAGE) -> list[tuple[str, str, int]]:
    """Up to ``limit`` rows written after ``seq``, in ``seq`` order: (key, part JSON, seq)."""
    rows = await conn.execute(_SINCE, {"a": app_id, "s": seq, "n": limit})
    return [(key, part, s) for key, part, s in rows]
