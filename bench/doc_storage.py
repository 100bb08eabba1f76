"""What PostgreSQL's compression costs a read model's whole-patient document
(``python -m bench.doc_storage``): the journal's record and the medication list are rewritten
at every write and read at every request. One table per storage, the same documents (a record
of 20 signed notes and 3 tasks, ~12 KB of JSON, made up here), upserted ten at a time as the
projection does and read one at a time; the figure is the server backend's CPU per row (from
``/proc``), the baseline PostgreSQL's default (``EXTENDED``: pglz above ~2 KB) beside
``EXTERNAL`` (out of line, uncompressed: ``libs.events.read_model.uncompressed``). Rounds
alternate so the machine's drift falls on both."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import uuid
from pathlib import Path

import asyncpg
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from libs.config import REPO_ROOT
from libs.devstack.postgres import LocalPostgres
from libs.devstack.procs import free_port
from libs.events.db import asyncpg_dsn

ROWS, ROUNDS, READS = 200, 4, 5_000
WORDS = ("pasienten var rolig i dag spiste frokost fikk hjelp med dusj og påkledning blodtrykk "
         "målt smerter i venstre hofte paracet gitt sov godt natt tilsyn utført etter plan").split()


def record(rng: random.Random) -> str:
    def note() -> dict:
        return {"note_id": str(uuid.UUID(int=rng.getrandbits(128))), "status": "signed",
                "author": {"hpr": str(rng.randint(1_000_000, 9_999_999)), "name": "Kari Nordmann"},
                "signed_at": f"2026-12-07T{rng.randint(0, 23):02}:{rng.randint(0, 59):02}:00Z",
                "text": " ".join(rng.choice(WORDS) for _ in range(60))}
    return json.dumps({"patient_id": str(uuid.UUID(int=rng.getrandbits(128))),
                       "notes": [note() for _ in range(20)],
                       "tasks": [{"task_id": str(uuid.UUID(int=rng.getrandbits(128))),
                                  "text": "morgenstell"} for _ in range(3)]})


async def backend_cpu_s(conn: asyncpg.Connection) -> float:
    pid = await conn.fetchval("SELECT pg_backend_pid()")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100   # utime + stime, in clock ticks


async def one_round(conn: asyncpg.Connection, storage: str, docs: list[str], n: int) -> dict:
    table = f"docs_{storage.lower()}"
    await conn.execute(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} "
                       "(patient_id uuid PRIMARY KEY, version int, doc jsonb NOT NULL)")
    await conn.execute(f"ALTER TABLE {table} ALTER COLUMN doc SET STORAGE {storage}")
    ids = [uuid.uuid4() for _ in docs]
    await conn.executemany(f"INSERT INTO {table} VALUES ($1, 0, $2::jsonb)", zip(ids, docs))
    before = await backend_cpu_s(conn)
    for version in range(1, 11):
        for i in range(0, len(ids), 10):
            await conn.execute(f"""
                INSERT INTO {table}
                SELECT p, v, d::jsonb FROM unnest($1::uuid[], $2::int[], $3::text[]) AS x(p, v, d)
                ON CONFLICT (patient_id) DO UPDATE SET version = excluded.version,
                                                       doc = excluded.doc""",
                ids[i:i + 10], [version] * 10, docs[i:i + 10])
    written = await backend_cpu_s(conn)
    for k in range(n):
        await conn.fetchval(f"SELECT doc::text FROM {table} WHERE patient_id = $1",
                            ids[k % len(ids)])
    read = await backend_cpu_s(conn)
    return {"write": (written - before) / (10 * len(ids)), "read": (read - written) / n,
            "size": await conn.fetchval(f"SELECT avg(pg_column_size(doc)) FROM {table}")}


async def measure(dsn: str, progress: Progress, *, rows: int = ROWS, rounds: int = ROUNDS,
                  reads: int = READS, schema: str = "public"
                  ) -> tuple[dict[str, list[dict]], float]:
    """Each storage's rounds (CPU s per row written and read, bytes stored per document) and
    the documents' mean length as JSON text."""
    rng = random.Random(7)
    docs = [record(rng) for _ in range(rows)]
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    got: dict[str, list[dict]] = {"EXTENDED": [], "EXTERNAL": []}
    task = progress.add_task("rounds", total=rounds * 2)
    try:
        for _ in range(rounds):
            for storage in got:
                got[storage].append(await one_round(conn, storage, docs, reads))
                progress.advance(task)
    finally:
        await conn.close()
    return got, sum(map(len, docs)) / len(docs)


def main() -> None:
    base = REPO_ROOT / ".local" / "bench-doc-storage"
    shutil.rmtree(base, ignore_errors=True)
    pg = LocalPostgres(base, free_port())
    pg.start()
    try:
        with Progress() as progress:
            got, size = asyncio.run(measure(asyncpg_dsn(pg.url), progress))
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)
    t = Table(title=f"A {size / 1000:.1f} KB document: the server's "
                    f"CPU per row, {ROUNDS} rounds each (min–max)")
    for col in ("storage", "upsert µs", "read µs", "stored bytes"):
        t.add_column(col, justify="left" if col == "storage" else "right")
    for storage, rounds in got.items():
        def span(key: str) -> str:
            v = [r[key] * 1e6 for r in rounds]
            return f"{min(v):,.0f}–{max(v):,.0f}"
        t.add_row(storage + (" (baseline: the default)" if storage == "EXTENDED" else ""),
                  span("write"), span("read"), f"{rounds[0]['size']:,.0f}")
    Console().print(t)


if __name__ == "__main__":
    main()
