"""``ehr directory``: load an HPR- and Enhetsregisteret-shaped extract into the citizen
service's directory (names of health personnel and units), and show what is loaded. ``load``
checks the whole extract first (``services/citizen/directory``), then upserts it in one
transaction; loading it again changes nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from libs.config import get_settings
from libs.events.db import check_schema, make_engine
from libs.kernel.errors import Invalid
from services.citizen import directory as d

console = Console()
directory = typer.Typer(help="The directory of health personnel and units (HPR, "
                             "Enhetsregisteret).", no_args_is_help=True)
SchemaOption = Annotated[str, typer.Option(help="the citizen service's database schema")]


async def _with_engine(schema: str, work):
    engine = make_engine(get_settings().effective_database_url, check_schema(schema))
    try:
        return await work(engine)
    finally:
        await engine.dispose()


@directory.command("load")
def load(folder: Annotated[Path, typer.Argument(
             help="a folder with hpr.json and enheter.json")] = d.DATA,
         schema: SchemaOption = "citizen") -> None:
    """Load a directory extract (default: the shipped synthetic sample)."""
    try:
        extract = d.read(folder)
    except (OSError, ValueError, Invalid) as exc:
        console.print(f"[bold red]error:[/] {exc}", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from None
    n = asyncio.run(_with_engine(schema, lambda e: d.load(e, extract)))
    console.print(f"loaded {len(extract.people)} people and {len(extract.units)} units "
                  f"({n} rows) into {schema}")


@directory.command("show")
def show(schema: SchemaOption = "citizen") -> None:
    """What the directory holds."""
    async def rows(engine):
        await d.setup(engine)
        async with engine.connect() as conn:
            return list(await conn.execute(text(
                "SELECT number, kind, name, parent FROM citizen_directory ORDER BY kind, name")))
    table = Table("number", "kind", "name", "parent")
    for r in asyncio.run(_with_engine(schema, rows)):
        table.add_row(r[0], r[1], r[2], r[3] or "")
    console.print(table)
