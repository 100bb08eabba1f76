"""``ehr audit verify``: the access log's hash chains (DOMAIN.md §11 req. 13).

Exit codes: 0 the log is intact, 1 it has problems, 2 it could not be read."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from cli.console import console, host_of
from libs.config import get_settings
from libs.web.manifest import Manifest


def audit_app(manifests: Sequence[Manifest]) -> typer.Typer:
    audit = typer.Typer(help="The access log (AccessLogged).", no_args_is_help=True)

    @audit.command("verify")
    def audit_verify(
        source: Annotated[str, typer.Option(help="db (a service's event store) or kafka")] = "db",
        schema: Annotated[str | None, typer.Option(
            help="service schema (db); default: all")] = None,
        topic: Annotated[str, typer.Option(help="the topic (kafka)")] = "audit.access",
        patient: Annotated[str | None, typer.Option(
            help="only this patient's chains (UUID)")] = None,
    ) -> None:
        """Check the hash chains of the access log: any edited, deleted, reordered or
        duplicated entry is reported."""
        import uuid

        import asyncpg
        from aiokafka.errors import KafkaError

        from libs.audit import verify as av

        def error(msg: str) -> None:
            console.print(f"[bold red]error:[/] {msg}")
            raise typer.Exit(2)

        if source not in ("db", "kafka"):
            error(f"--source is db or kafka, not {source!r}")
        try:
            pid = uuid.UUID(patient) if patient else None
        except ValueError:
            error(f"--patient must be a UUID (the internal patient id), not {patient!r}")
        s = get_settings()
        reports: list[tuple[str, av.Report]] = []
        schemas = [] if source == "kafka" else [schema] if schema else [m.name for m in manifests]
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("entries"), TimeRemainingColumn(), console=console) as progress:
            def tracker(what: str):
                task = progress.add_task(f"verifying {what}", total=None)
                return lambda total=None, advance=None: progress.update(
                    task, **({"total": total} if total is not None else {}),
                    advance=advance or 0)

            try:
                if source == "kafka":
                    reports.append((topic, asyncio.run(av.verify_kafka(
                        s.effective_kafka, topic, patient=pid, on_progress=tracker(topic)))))
                for name in schemas:
                    try:
                        reports.append((name, asyncio.run(av.verify_db(
                            s.effective_database_url, name, patient=pid,
                            on_progress=tracker(name)))))
                    except av.VerifyError:
                        if schema:
                            raise
            except av.VerifyError as exc:
                error(str(exc))
            except (KafkaError, asyncio.TimeoutError) as exc:
                error(f"cannot read {topic!r} from Kafka at {s.effective_kafka} "
                      f"({type(exc).__name__}); start it with `ehr dev up` or set "
                      "KAFKA_BOOTSTRAP_SERVERS")
            except ValueError as exc:  # a schema name that cannot be one
                error(str(exc))
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                error(f"cannot read the access log from PostgreSQL at "
                      f"{host_of(s.effective_database_url)} ({type(exc).__name__}: {exc}); "
                      "start it with `ehr dev up` or set DATABASE_URL")
        _report(reports)

    return audit


def _report(reports) -> None:
    problems = [(where, p) for where, r in reports for p in r.problems]
    entries, chains = sum(r.entries for _, r in reports), sum(r.chains for _, r in reports)
    if problems:
        table = Table(title=f"access log problems ({len(problems)})")
        for col in ("where", "chain", "seq", "kind", "problem"):
            table.add_column(col, overflow="fold")
        for where, p in problems:
            table.add_row(where, p.chain, str(p.seq), f"[red]{p.kind}[/]", p.message)
        console.print(table)
        console.print(f"[bold red]✗[/] {len(problems)} problem(s) in {entries} entries "
                      f"in {chains} chains")
        raise typer.Exit(1)
    console.print(f"[green]✓[/] {entries} entries in {chains} chains verified "
                  f"({', '.join(w for w, _ in reports) or 'nothing to read'})")
