"""``ehr registry``: the registry export's commands (a composition root: reads settings).

    ehr registry worker [--schema S]          the faust worker (folds the events into parts)
    ehr registry kpr --year 2025 [--municipality 0301]
    ehr registry statistics --year 2025 [--kind point|period] [--format jsonstat|csv]
    ehr registry release --project P --basis "<legal basis, decision ref>" [--year 2025]
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console

from libs.config import REPO_ROOT, get_settings
from libs.events.db import make_engine
from libs.events.migrations import run_migrations
from libs.kernel.errors import DomainError
from libs.kernel.time import local_day
from libs.kernel.heap import settle_heap
from services.registry_export.kpr_xml import XSD
from services.registry_export.reads import event_registry
from services.registry_export.settings import RegistryExportSettings
from services.registry_export.sources import Sources
from services.registry_export.worker import SOURCES

console = Console()
registry = typer.Typer(help="KPR extracts, statistics and research releases.",
                       no_args_is_help=True)
SchemaOption = Annotated[str, typer.Option(help="the registry export's database schema")]
AppIdOption = Annotated[str | None, typer.Option(
    help="the faust app (consumer group, whose parts); default EHR_REGISTRY_APP_ID")]
T = TypeVar("T")


def _settings() -> RegistryExportSettings:
    return RegistryExportSettings.for_service(get_settings())


def _fail(message: str) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}", soft_wrap=True, highlight=False,
                  markup=False)
    raise typer.Exit(1)


async def _with_sources(schema: str, app_id: str | None, work):
    settings = _settings()
    app_id = app_id or settings.registry_app_id
    url = settings.effective_database_url
    await run_migrations(url, schema)
    engine = make_engine(url, schema)
    try:
        return await work(settings, Sources(
            engine, event_registry(), settings.effective_kafka, app_id,
            "journal.events", settings.registry_out_dir))
    finally:
        await engine.dispose()


def _run(coro: Awaitable[T]) -> T:
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except DomainError as exc:
        _fail(str(exc))


@registry.command()
def worker(app_id: AppIdOption = None, schema: SchemaOption = "registry_export") -> None:
    """Run the faust worker: fold the event topics into the registry's parts."""
    import faust  # noqa: PLC0415

    from services.registry_export.worker import build_worker  # noqa: PLC0415

    settings = _settings()
    asyncio.run(run_migrations(settings.effective_database_url, schema))
    app = build_worker(settings, event_registry(), schema=schema,
                       topics={s: s for s in SOURCES},
                       app_id=app_id or settings.registry_app_id,
                       partitions=settings.registry_partitions)
    settle_heap()   # a long-running process (libs/kernel/heap.py)
    faust.Worker(app, loglevel="warning").execute_from_commandline()


@registry.command()
def kpr(year: Annotated[int, typer.Option(help="the reporting year (ended)")],
        municipality: Annotated[str | None, typer.Option(help="kommunenummer")] = None,
        schema: SchemaOption = "registry_export", app_id: AppIdOption = None) -> None:
    """Write the annual KPR extract, print what was left out and why, record the send."""
    from services.registry_export.kpr_report import run_kpr  # noqa: PLC0415

    async def work(settings, src):
        now = datetime.now(UTC)
        return await run_kpr(src, REPO_ROOT / XSD, year=year, municipality=municipality,
                             today=local_day(now), now=now)

    result = _run(_with_sources(schema, app_id, work))
    for x in result.extract.excluded:
        console.print(f"excluded: patient {x.patient_id}"
                      f"{f' decision {x.decision_id}' if x.decision_id else ''}: {x.reason}",
                      markup=False, highlight=False)
    console.print(f"{'re-sent' if result.resend else 'sent'}: {result.path} "
                  f"({len(result.extract.persons)} persons, {result.extract.services} services, "
                  f"{len(result.extract.excluded)} excluded; sha256 {result.checksum})"
                  + (" — after the 15 January deadline" if result.late else ""),
                  markup=False, highlight=False)


@registry.command()
def statistics(year: Annotated[int, typer.Option()],
               kind: Annotated[str, typer.Option(help="point (31.12) or period")] = "point",
               fmt: Annotated[str, typer.Option("--format", help="jsonstat or csv")] = "jsonstat",
               schema: SchemaOption = "registry_export", app_id: AppIdOption = None) -> None:
    """Print a published statistics table (suppressed, or rounded: EHR_REGISTRY_PROTECTION)."""
    from services.registry_export.published import render_table  # noqa: PLC0415

    async def work(settings, src):
        now = datetime.now(UTC)
        return render_table((await src.people()).values(), year=year, kind=kind, fmt=fmt,
                            min_cell=settings.registry_min_cell, now=now,
                            rounding=settings.rounding())

    typer.echo(_run(_with_sources(schema, app_id, work))[0])


@registry.command()
def release(project: Annotated[str, typer.Option()],
            basis: Annotated[str, typer.Option(help="legal basis and decision reference")],
            recipient: Annotated[str | None, typer.Option()] = None,
            year: Annotated[list[int] | None, typer.Option(help="default: last year")] = None,
            schema: SchemaOption = "registry_export", app_id: AppIdOption = None) -> None:
    """Write a pseudonymised research data set (Parquet) and record the release."""
    from services.registry_export.release import run_release  # noqa: PLC0415

    async def work(settings, src):
        now = datetime.now(UTC)
        today = local_day(now)
        key = settings.registry_pseudonym_keys.get(project)
        return await run_release(
            src, project=project, basis=basis, recipient=recipient,
            key=key.get_secret_value().encode() if key else None,
            years=year or [today.year - 1], k=settings.registry_k_anonymity, as_of=today,
            now=now)

    result = _run(_with_sources(schema, app_id, work))
    r = result.report
    console.print(f"released: {result.folder} ({r.rows} rows, {r.people} people; "
                  f"{r.suppressed_rows} rows of {r.suppressed_people} people suppressed for "
                  f"k={r.k}; municipalities grouped: "
                  f"{', '.join(r.grouped_municipalities) or 'none'})", markup=False,
                  highlight=False)
    console.print(json.dumps(result.files, indent=2), markup=False, highlight=False)



@registry.command("seed-municipality")
def seed_municipality(
        persons: Annotated[int, typer.Option(min=1, max=100_000)] = 50,
        municipality: Annotated[str, typer.Option(help="kommunenummer")] = "0301",
        journal_url: Annotated[str, typer.Option(help="the journal's API")] = (
            "http://127.0.0.1:8004"),
        seed: Annotated[int, typer.Option(help="the same seed gives the same people")] = 1,
) -> None:
    """A synthetic municipality through the journal's API (development only)."""
    import httpx  # noqa: PLC0415
    from rich.progress import Progress  # noqa: PLC0415

    from libs.access.dev_issuer import DevIssuer  # noqa: PLC0415
    from services.registry_export.seed import SeedError  # noqa: PLC0415
    from services.registry_export.seed import seed_municipality as seed_it  # noqa: PLC0415

    settings = _settings()
    if settings.environment == "production":
        _fail("synthetic people are never seeded in production")
    issuer = DevIssuer.from_settings(settings)
    case_worker = {"Authorization": "Bearer " + issuer.mint_practitioner(
        "5550001", "123456785", "889640782", ("other",), "Kari Saksbehandler")}

    async def work():
        async with httpx.AsyncClient(base_url=journal_url, timeout=30) as http:
            with Progress(console=console) as bar:
                task = bar.add_task(f"seeding {persons} people in {municipality}",
                                    total=persons)
                return await seed_it(http, persons=persons, municipality=municipality,
                                     others=("3201", "1103", "4601"), case_worker=case_worker,
                                     today=local_day(datetime.now(UTC)),
                                     seed=seed, provider="974600978",
                                     progress=lambda: bar.advance(task))

    try:
        done = asyncio.run(work())
    except (SeedError, OSError) as exc:
        _fail(f"seeding stopped: {exc}")
    console.print(", ".join(f"{k}: {v}" for k, v in sorted(done.items())), markup=False)
