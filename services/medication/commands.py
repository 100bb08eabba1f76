"""``ehr catalogue``: load a FEST-shaped extract into the medication service's drug catalogue,
and show what is loaded.

``load`` reads and checks the whole file first (one sentence per problem), then loads it in one
transaction (``services/medication/catalogue/store.py``): new, changed and restored entries are
written, entries missing from the extract are marked expired, never deleted. Loading the same
extract again changes nothing. An older extract is refused unless ``--allow-older``; one that
would expire more than a fifth of the active entries (a truncated file) unless ``--force``.
A running medication service picks the new catalogue up by itself (LISTEN/NOTIFY).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import asyncpg
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DBAPIError

from libs.config import get_settings

console = Console()
catalogue = typer.Typer(help="The drug catalogue (FEST-shaped extracts).", no_args_is_help=True)

SchemaOption = Annotated[str, typer.Option(help="the medication service's database schema")]
T = TypeVar("T")


def _fail(*sentences: str) -> NoReturn:
    console.print(f"[bold red]error:[/] {sentences[0]}", soft_wrap=True, highlight=False)
    for more in sentences[1:]:
        console.print(f"       {more}", soft_wrap=True, highlight=False, markup=False)
    raise typer.Exit(1)


def _host_of(url: str) -> str:
    return url.split("@")[-1]


def _run(coro: Awaitable[T]) -> T:
    """Run a command's coroutine; an unreachable database or a refused load is one clear
    message and exit code 1, not a traceback."""
    from services.medication.catalogue import CatalogueError

    url = get_settings().effective_database_url
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except CatalogueError as exc:
        _fail("the catalogue was not loaded:", *exc.problems)
    except (OSError, DBAPIError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        _fail(f"cannot use PostgreSQL at {_host_of(url)} ({type(exc).__name__}: "
              f"{str(exc).splitlines()[0] if str(exc) else ''}); start it with `ehr dev up` or "
              "set DATABASE_URL")


def _checked_schema(schema: str) -> str:
    from libs.events.db import check_schema

    try:
        return check_schema(schema)
    except ValueError as exc:
        _fail(f"--schema: {exc}")


def _read_extract(path: Path | None):
    from services.medication.catalogue import CatalogueError, parse_extract, read_sample

    if path is None:
        raw: Any = read_sample()
    else:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            _fail(f"{path} is not valid JSON: it is not UTF-8 text.")
        except json.JSONDecodeError as exc:
            _fail(f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                  f"{exc.msg}).")
        except OSError as exc:
            _fail(f"{path} cannot be read ({exc.strerror or exc}).")
    try:
        return parse_extract(raw)
    except CatalogueError as exc:
        _fail(f"{'the shipped sample' if path is None else path} is not a usable extract:",
              *exc.problems)


@catalogue.command("load")
def load(
    path: Annotated[Path | None, typer.Argument(
        help="a FEST-shaped extract (JSON); default: the shipped SAMPLE (not for clinical use)",
        show_default=False)] = None,
    allow_older: Annotated[bool, typer.Option(
        "--allow-older", help="load an extract older than the loaded one (a rollback)")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="load even if it expires more than a fifth of the active entries")
    ] = False,
    schema: SchemaOption = "medication",
) -> None:
    """Load an extract: new and changed entries written, missing ones marked expired."""
    schema = _checked_schema(schema)
    s = get_settings()
    with console.status("reading the extract") as status:
        extract = _read_extract(path)
        if extract.header.sample and s.environment == "production":
            _fail("the shipped sample is not a FEST extract and is not loaded in production.")
        source = "sample" if path is None else str(path)
        result = _run(_load(s.effective_database_url, schema, extract, source,
                            allow_older=allow_older, force=force, progress=status.update))
    plan = result.plan
    sample = " [bold yellow](SAMPLE DATA, not for clinical use)[/]" if plan.extract.sample else ""
    if result.nothing_to_do:
        console.print(f"[green]✓[/] nothing changed: the extract of "
                      f"{plan.extract_date.isoformat()} is already loaded (load "
                      f"{result.load_id}){sample}", soft_wrap=True, highlight=False)
        return
    table = Table(title=f"load {result.load_id}: extract of {plan.extract_date.isoformat()}")
    table.add_column("kind")
    for col in ("new", "changed", "restored", "unchanged", "expired"):
        table.add_column(col, justify="right")
    for kind, counts in plan.counts().items():
        table.add_row(kind, *(str(counts[c]) for c in
                              ("added", "changed", "restored", "unchanged", "expired")))
    console.print(table)
    forced = " (forced)" if force else ""
    console.print(f"[green]✓[/] load {result.load_id}{forced}: extract of "
                  f"{plan.extract_date.isoformat()} from {source}{sample}", soft_wrap=True,
                  highlight=False)


async def _load(url: str, schema: str, extract, source: str, *, allow_older: bool, force: bool,
                progress: Callable[[str], None]):
    from libs.events.db import make_engine
    from libs.events.migrations import run_migrations
    from services.medication.catalogue.store import CatalogueStore

    progress(f"preparing schema {schema}")
    await run_migrations(url, schema)
    engine = make_engine(url, schema, pool_size=1)
    try:
        store = CatalogueStore(engine)
        await store.setup()
        progress(f"loading the extract of {extract.extract_date.isoformat()} "
                 f"({len(extract.products)} products)")
        return await store.load(extract, source=source, allow_older=allow_older, force=force)
    finally:
        await engine.dispose()


@catalogue.command("show")
def show(
    last: Annotated[int, typer.Option(min=1, help="how many loads to list")] = 5,
    schema: SchemaOption = "medication",
) -> None:
    """The loaded extract, the last loads, and how many entries are active or expired."""
    schema = _checked_schema(schema)
    with console.status("reading the catalogue"):
        found = _run(_show(get_settings().effective_database_url, schema, last))
    if found is None:
        console.print(f"No drug catalogue is loaded in schema {schema}; load one with "
                      "`ehr catalogue load`.", highlight=False)
        return
    history, counts = found
    newest = history[0]
    sample = " [bold yellow](SAMPLE DATA, not for clinical use)[/]" if newest.header.sample else ""
    console.print(f"extract of [bold]{newest.extract_date.isoformat()}[/]{sample}: "
                  f"{newest.header.source}", soft_wrap=True, highlight=False)
    loaded_at = newest.loaded_at.astimezone()
    console.print(f"current load: {newest.load_id}, loaded {loaded_at:%Y-%m-%d %H:%M %Z} "
                  f"from {newest.source}", soft_wrap=True, highlight=False)

    entries = Table(title="entries")
    entries.add_column("kind")
    entries.add_column("active", justify="right")
    entries.add_column("expired", justify="right")
    for kind, (active, expired) in counts.items():
        entries.add_row(kind, str(active), str(expired))
    console.print(entries)

    loads = Table(title=f"last {len(history)} loads")
    for col in ("load", "loaded at", "extract", "source", "products", "flags"):
        loads.add_column(col, overflow="fold")
    for r in history:
        p = r.counts.get("products", {})
        shown = ", ".join(f"{p.get(k, 0)} {k}" for k in ("added", "changed", "restored",
                                                          "expired") if p.get(k))
        flags = ", ".join(f for f, on in (("allow older", r.allow_older), ("forced", r.forced))
                          if on)
        loads.add_row(str(r.load_id), f"{r.loaded_at.astimezone():%Y-%m-%d %H:%M %Z}",
                      r.extract_date.isoformat(), r.source, shown or "none", flags)
    console.print(loads)


async def _show(url: str, schema: str, last: int):
    from sqlalchemy import text

    from libs.events.db import make_engine
    from services.medication.catalogue.store import CatalogueStore

    engine = make_engine(url, schema, pool_size=1)
    try:
        async with engine.connect() as conn:  # read-only: create nothing
            exists = (await conn.execute(text(
                "SELECT to_regclass('catalogue_loads') IS NOT NULL "
                "AND to_regclass('catalogue_items') IS NOT NULL"))).scalar_one()
        if not exists:
            return None
        store = CatalogueStore(engine)
        history = await store.history(last)
        return (history, await store.counts()) if history else None
    finally:
        await engine.dispose()
