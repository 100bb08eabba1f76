"""The directory: names of health personnel (HPR-shaped) and of organisations and units
(Enhetsregisteret-shaped), so the citizen sees "Nina Sykepleier, Hjemmetjenesten sone sentrum"
rather than numbers. ``parse`` checks a whole extract (one sentence per problem) before
anything is written; ``load`` upserts it in one transaction and is idempotent."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.events.db import setup_turn
from libs.kernel.errors import Invalid
from libs.kernel.identifiers import InvalidIdentifier, parse_hpr, validate_orgnr

DATA = Path(__file__).parent / "data"
MAX_ROWS = 200_000


@dataclass(frozen=True)
class Extract:
    people: dict[str, str]            # HPR number -> name
    units: dict[str, tuple[str, str | None]]   # org number -> (name, parent)


def parse(hpr: dict, enheter: dict) -> Extract:
    problems, people, units = [], {}, {}
    for i, p in enumerate((hpr.get("personer") or [])[:MAX_ROWS]):
        try:
            number = parse_hpr(str(p["hprNummer"]))
            name = f"{p['fornavn']} {p['etternavn']}".strip()
        except (KeyError, TypeError, InvalidIdentifier, ValueError) as e:
            problems.append(f"person {i + 1}: {e}")
            continue
        people[number] = name[:300]
    for i, u in enumerate((enheter.get("enheter") or [])[:MAX_ROWS]):
        try:
            orgnr = validate_orgnr(str(u["organisasjonsnummer"]))
            parent = u.get("overordnetEnhet")
            units[orgnr] = (str(u["navn"])[:300], validate_orgnr(parent) if parent else None)
        except (KeyError, TypeError, InvalidIdentifier, ValueError) as e:
            problems.append(f"unit {i + 1}: {e}")
    if problems:
        raise Invalid("The directory extract has problems: " + "; ".join(problems[:20]))
    return Extract(people, units)


def read(folder: Path = DATA) -> Extract:
    return parse(json.loads((folder / "hpr.json").read_text(encoding="utf-8")),
                 json.loads((folder / "enheter.json").read_text(encoding="utf-8")))


async def setup(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await setup_turn(conn)
        await conn.execute(text("""CREATE TABLE IF NOT EXISTS citizen_directory (
            number text PRIMARY KEY, kind text NOT NULL, name text NOT NULL, parent text)"""))


async def load(engine: AsyncEngine, extract: Extract) -> int:
    """Upsert every person and unit; returns how many rows the extract holds."""
    rows = [{"n": k, "k": "hpr", "name": v, "parent": None} for k, v in extract.people.items()]
    rows += [{"n": k, "k": "unit", "name": v[0], "parent": v[1]}
             for k, v in extract.units.items()]
    await setup(engine)
    async with engine.begin() as conn:
        if rows:
            await conn.execute(text("""
                INSERT INTO citizen_directory VALUES (:n, :k, :name, :parent)
                ON CONFLICT (number) DO UPDATE SET kind = EXCLUDED.kind, name = EXCLUDED.name,
                                                   parent = EXCLUDED.parent"""), rows)
    return len(rows)


async def load_sample_if_empty(engine: AsyncEngine) -> None:
    await setup(engine)
    async with engine.connect() as conn:
        empty = (await conn.execute(text("SELECT count(*) FROM citizen_directory"))).scalar()
    if not empty:
        await load(engine, read())


async def names_for(engine: AsyncEngine, numbers: set[str]) -> dict[str, str]:
    """The names of these HPR and organisation numbers that the directory knows."""
    if not numbers:
        return {}
    async with engine.connect() as conn:
        rows = await conn.execute(text(
            "SELECT number, name FROM citizen_directory WHERE number = ANY(:n)"),
            {"n": sorted(numbers)})
        return {r[0]: r[1] for r in rows}
