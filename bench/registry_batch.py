"""The registry export's batch work for N persons, in this process: the KPR extract (select,
XML, validation against our schema) next to writing the same persons' services as plain CSV,
and a research release (pseudonyms, k-anonymity, partitioned Parquet) next to writing the same
rows as one plain Parquet file. Wall time and peak Python memory (tracemalloc) of each; the
persons are made first (synthetic, ``domain/synthetic.py``) and not measured."""

from __future__ import annotations

import csv
import random
import tempfile
import tracemalloc
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from time import perf_counter

import pyarrow as pa
import pyarrow.parquet as pq

from libs.config import REPO_ROOT
from libs.events.envelope import SYSTEM, Envelope, new_event_id
from services.registry_export.domain.kpr import select
from services.registry_export.domain.person import Person, advance, merge
from services.registry_export.domain.research import anonymise, rows_for
from services.registry_export.domain.synthetic import person_events, test_number
from services.registry_export.kpr_xml import XSD as KPR_XSD
from services.registry_export.kpr_xml import render, validate
from services.registry_export.release import write_parquet

XSD = REPO_ROOT / KPR_XSD
YEAR = 2025


@dataclass(frozen=True)
class Measured:
    label: str
    seconds: float
    peak_mb: float
    items: int


def journal_envelopes(n: int, seed: int = 1) -> list[Envelope]:
    """The journal events of ``n`` synthetic persons (``domain/synthetic.py``), in order."""
    rng, now, out = random.Random(seed), datetime.now(UTC), []
    for slot in range(n):
        pid = uuid.UUID(int=rng.getrandbits(128))
        out += [Envelope(event_id=new_event_id(), type=p.event_type,
                         schema_version=p.schema_version, stream_id=f"journal-{pid}",
                         stream_version=v, patient_id=pid, occurred_at=now, recorded_at=now,
                         actor=SYSTEM, data=p.model_dump(mode="json"))
                for v, p in enumerate(person_events(rng, slot=slot, year=YEAR,
                                                    municipality="0301",
                                                    others=("3201", "1103")), start=1)]
    return out


def people(n: int, seed: int = 1) -> tuple[list[Person], dict[str, str]]:
    """``n`` synthetic persons folded the worker's way (the persons of
    ``journal_envelopes(n, seed)``, folded straight from their events: no JSON envelope to
    write and read back, which made 100k people take most of the run), and their (synthetic)
    national ids."""
    rng, out = random.Random(seed), []
    for slot in range(n):
        pid = uuid.UUID(int=rng.getrandbits(128))
        part: Person | None = None
        for v, p in enumerate(person_events(rng, slot=slot, year=YEAR, municipality="0301",
                                            others=("3201", "1103")), start=1):
            env = Envelope.model_construct(type=p.event_type, stream_id=f"journal-{pid}",
                                           stream_version=v, patient_id=pid)
            part = advance(part, env, p) or part
        assert part is not None
        out.append(merge([part]))
    # twenty people per birth date: some dates have under a hundred valid test numbers
    ids = {p.patient_id: test_number(date(1930, 1, 1) + timedelta(days=i // 20), i % 20)
           for i, p in enumerate(out)}
    assert len(set(ids.values())) == len(ids), "two synthetic persons share a number"
    return out, ids


def measure(label: str, items: int, work: Callable[[], object]) -> Measured:
    tracemalloc.start()
    t0 = perf_counter()
    work()
    seconds = perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return Measured(label, seconds, peak / 1e6, items)


def kpr(persons: list[Person], ids: dict[str, str]) -> list[Measured]:
    def ours() -> None:
        xml = render(select(persons, ids, YEAR))
        problems = validate(xml, XSD)
        assert not problems, problems[:3]

    def plain() -> None:
        with tempfile.TemporaryFile("w+", newline="") as f:
            w = csv.writer(f)
            for p in persons:
                for s in p.services.values():
                    w.writerow([ids.get(p.patient_id), s.code, s.status, s.from_date,
                                s.to_date, p.residence[0].municipality if p.residence else ""])
    return [measure("KPR extract (select, XML, XSD)", len(persons), ours),
            measure("baseline: the services as CSV", len(persons), plain)]


def release(persons: list[Person], ids: dict[str, str]) -> list[Measured]:
    key = b"bench pseudonym key, not a secret"
    rows = rows_for(persons, ids, key, [YEAR])

    def ours() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            kept, _ = anonymise(rows_for(persons, ids, key, [YEAR]), 5)
            write_parquet(kept, Path(tmp))

    def plain() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            pq.write_table(pa.Table.from_pylist(rows), Path(tmp) / "rows.parquet")
    return [measure("research release (HMAC, k=5, Parquet)", len(persons), ours),
            measure("baseline: the same rows, one Parquet", len(persons), plain)]
