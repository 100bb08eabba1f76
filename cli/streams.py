"""``ehr relay run``, ``ehr projection run``, ``ehr replay``: the processes that move events, for
the projections the services' manifests declare (each decodes with its own service's
registry)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from cli.console import console, fail, host_of, run_kafka
from libs.config import get_settings
from libs.events.read_model import Projection
from libs.events.registry import Registry
from libs.kernel.heap import settle_heap
from libs.kernel.loop import run_on_uvloop
from libs.web.manifest import Manifest, same_topic


def find_projection(name: str, manifests: Sequence[Manifest]) -> tuple[Projection, Registry]:
    """The projection called ``name`` and the registry of the service that declares it."""
    known = []
    for manifest in manifests:
        for projection in manifest.projections(same_topic):
            if projection.name == name:
                return projection, manifest.registry()
            known.append(projection.name)
    fail(f"no projection named {name!r}; known: {', '.join(sorted(set(known))) or 'none'}")


def _run_until_signal(main) -> None:
    async def wrapper():
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        settle_heap()   # a long-running process: its start-up heap is not walked again
        await main(stop)

    run_on_uvloop(wrapper())   # uvloop, as the APIs (libs/kernel/loop.py)


def add_stream_commands(app: typer.Typer, manifests: Sequence[Manifest]) -> None:
    relay_app = typer.Typer(help="The outbox relay.", no_args_is_help=True)
    projection_app = typer.Typer(help="Projection runners.", no_args_is_help=True)
    app.add_typer(relay_app, name="relay")
    app.add_typer(projection_app, name="projection")

    @app.command("replay")
    def replay_cmd(
        projection: Annotated[str, typer.Argument(help="projection name")],
        schema: Annotated[str, typer.Option(help="the service schema that holds the read model")],
    ) -> None:
        """Drop a read model and rebuild it from the topics."""
        from libs.events.db import make_engine
        from libs.events.projection import ProjectionBusy, ProjectionRunner, replay

        found, registry = find_projection(projection, manifests)
        s = get_settings()

        async def go():
            settle_heap()
            engine = make_engine(s.effective_database_url, schema)
            runner = ProjectionRunner(found, engine, s.effective_kafka, registry=registry,
                                      batch_size=s.projection_batch_size)
            with Progress(TextColumn(f"replaying {projection}"), BarColumn(),
                          MofNCompleteColumn(), TextColumn("events"), TimeRemainingColumn(),
                          console=console) as progress:
                task = progress.add_task("replay", total=None)

                def on_progress(total=None, advance=None):
                    if total is not None:
                        progress.update(task, total=total)
                    if advance:
                        progress.advance(task, advance)

                stats = await replay(runner, on_progress)
            await engine.dispose()
            return stats

        try:
            stats = run_kafka(go(), s.effective_kafka)
        except ProjectionBusy as exc:
            fail(str(exc))
        console.print(f"[green]✓[/] {projection} rebuilt: {stats.applied} events applied, "
                      f"{stats.duplicates} duplicates skipped, {stats.dead_lettered} sent to DLQ")

    @relay_app.command("run")
    def relay_run(schema: Annotated[str, typer.Option(help="the service schema")]) -> None:
        """Publish the schema's outbox to Kafka until stopped (stand-by if another relay is
        active)."""
        from libs.events.relay import OutboxRelay

        s = get_settings()

        async def main(stop: asyncio.Event):
            relay = OutboxRelay.from_settings(s, schema)
            task = asyncio.create_task(relay.run())
            console.print(f"relay for {schema}: {host_of(s.effective_database_url)} → "
                          f"{s.effective_kafka}")
            await stop.wait()
            relay.stop()
            await task

        _run_until_signal(main)

    @projection_app.command("run")
    def projection_run(
        projection: str,
        schema: Annotated[str, typer.Option(help="the service schema")],
    ) -> None:
        """Keep a read model up to date until stopped."""
        from libs.events.db import make_engine
        from libs.events.projection import ProjectionRunner

        found, registry = find_projection(projection, manifests)
        s = get_settings()

        async def main(stop: asyncio.Event):
            engine = make_engine(s.effective_database_url, schema)
            runner = ProjectionRunner(found, engine, s.effective_kafka, registry=registry,
                                      batch_size=s.projection_batch_size)
            await runner.start()
            task = asyncio.create_task(runner.run())
            await stop.wait()
            await runner.stop()
            await task
            await engine.dispose()

        _run_until_signal(main)
