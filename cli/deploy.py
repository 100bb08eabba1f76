"""``ehr run`` and ``ehr chart``: one process per pod, and the facts the Helm chart
(``helm/ehr``) is built from.

- ``ehr run api NAME``: one service's API in the foreground, without the relay and projections
  (those run in their own pods: ``ehr run relay NAME``, ``ehr run projections NAME``).
- ``ehr run relay NAME``: the service's outbox relay, with its telemetry (``ehr relay run`` is
  the same relay for the local stack, without it).
- ``ehr run projections NAME [--only P]``: a group of the service's projections in one process
  (each still the single active runner of its projection, by its advisory lock).
- ``ehr chart facts``: what the chart must know of each service, read from the manifests and
  the services' CapabilityStatements (``cli/fhir_routes.py``); ``ehr chart topics --write``:
  the topic catalogue as the chart's KafkaTopics read it. ``tests/deploy`` compares both with
  the chart, so they cannot drift.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from functools import partial
from typing import Annotated, Any

import typer

from cli.console import console, fail
from cli.services import settled
from libs.config import REPO_ROOT, get_settings
from libs.web.manifest import Manifest, same_topic

TOPICS_FILE = REPO_ROOT / "helm" / "ehr" / "files" / "kafka-topics.json"


def port_default(manifest: Manifest) -> int | None:
    """The service's port as its settings class declares it (not as this shell overrides it)."""
    return manifest.settings.model_fields[manifest.port].default if manifest.port else None


def kafka_topics() -> list[dict[str, Any]]:
    """The topic catalogue (``libs/events/topics.py``) as the chart's KafkaTopics read it
    (``TOPICS_FILE``): every topic and its DLQ, its partitions and its configs
    (``min.insync.replicas`` is the cluster's, set by the chart from
    ``kafka.minInsyncReplicas``)."""
    from libs.events.topics import all_topics  # noqa: PLC0415

    return [{"name": t.name, "partitions": t.partitions,
             "config": {k: v for k, v in sorted(t.all_configs(0).items())
                        if k != "min.insync.replicas"}}
            for t in all_topics()]


def peer_calls(manifest: Manifest, names: Sequence[str]) -> list[str]:
    """The services whose HTTP APIs this one calls: a ``<service>_<peer>_url`` setting in its
    settings class (``citizen_consent_url``: citizen calls consent)."""
    fields = manifest.settings.model_fields
    return sorted(p for p in names if p != manifest.name and f"{manifest.name}_{p}_url" in fields)


def chart_facts(manifests: Sequence[Manifest]) -> dict[str, dict[str, Any]]:
    """Each service as the chart's ``services.<name>`` must say it."""
    from cli.fhir_routes import fhir_routes  # noqa: PLC0415  (builds the apps: only when asked)

    routes = fhir_routes(manifests)
    names = [m.name for m in manifests]
    return {m.name: {"kind": "api" if m.create_app is not None else "worker",
                     "port": port_default(m),
                     "projections": sorted(m.projection_names()),
                     "fhirTypes": sorted(t for t, owner in routes.items() if owner == m.name),
                     "calls": peer_calls(m, names),
                     "streamWorker": list(m.stream_worker)}
            for m in manifests}


def _find(name: str, manifests: Sequence[Manifest]) -> Manifest:
    for m in manifests:
        if m.name == name:
            return m
    fail(f"no service named {name!r}; known: {', '.join(m.name for m in manifests)}")


def deploy_apps(manifests: Sequence[Manifest]) -> tuple[typer.Typer, typer.Typer]:
    run = typer.Typer(help="One process in the foreground, as a pod runs it.",
                      no_args_is_help=True)
    chart = typer.Typer(help="What the Helm chart (helm/ehr) is built from.", no_args_is_help=True)

    @run.command("api")
    def run_api(name: str, host: str = "0.0.0.0",
                port: Annotated[int | None, typer.Option(
                    help="default: the service's own port setting")] = None) -> None:
        """A service's HTTP API only: its relay and projections run in their own processes."""
        import uvicorn  # noqa: PLC0415

        from libs.web.one_write import OneWriteHttp  # noqa: PLC0415
        from libs.web.service import Options  # noqa: PLC0415

        manifest = _find(name, manifests)
        if manifest.create_app is None:
            fail(f"{name} has no HTTP API")
        uvicorn.run(settled(partial(manifest.create_app, options=Options(background=False))),
                    factory=True, host=host,
                    port=port or getattr(manifest.settings(), manifest.port),
                    log_level="info", access_log=False, http=OneWriteHttp)

    @run.command("projections")
    def run_projections(name: str, only: Annotated[list[str] | None, typer.Option(
            help="projection(s) of this group; default: all the service's")] = None) -> None:
        """Keep a service's read models up to date until stopped (SIGTERM)."""
        manifest = _find(name, manifests)
        known = {p.name: p for p in manifest.projections(same_topic)}
        unknown = sorted(set(only or ()) - set(known))
        if unknown:
            fail(f"{name} has no projection {', '.join(unknown)}; known: {', '.join(known)}")
        chosen = [known[p] for p in (only or known)]
        from cli.streams import _run_until_signal  # noqa: PLC0415
        from libs.events.db import make_engine  # noqa: PLC0415
        from libs.events.projection import ProjectionRunner  # noqa: PLC0415

        from libs.telemetry import setup as telemetry  # noqa: PLC0415

        s = get_settings()

        async def main(stop: asyncio.Event) -> None:
            engine = make_engine(s.effective_database_url, name)
            telemetry.setup_telemetry(s, f"{name}-projections", engine=engine)
            runners = [ProjectionRunner(p, engine, s.effective_kafka,
                                        registry=manifest.registry(),
                                        batch_size=s.projection_batch_size) for p in chosen]
            for r in runners:
                await r.start()
            tasks = [asyncio.create_task(r.run(), name=r.projection.name) for r in runners]
            console.print(f"{name}: running {', '.join(p.name for p in chosen)}")
            await stop.wait()
            for r in runners:
                await r.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            await engine.dispose()
            telemetry.shutdown()

        _run_until_signal(main)

    @run.command("relay")
    def run_relay(name: str, schema: Annotated[str | None, typer.Option(
            help="default: the service's name")] = None) -> None:
        """Publish a service's outbox to Kafka until stopped (SIGTERM); stands by while another
        relay of the same schema is active. Exports its backlog and published counts."""
        _find(name, manifests)
        from cli.streams import _run_until_signal  # noqa: PLC0415
        from libs.events.relay import OutboxRelay  # noqa: PLC0415
        from libs.telemetry import setup as telemetry  # noqa: PLC0415

        s = get_settings()

        async def main(stop: asyncio.Event) -> None:
            telemetry.setup_telemetry(s, f"{name}-relay")
            relay = OutboxRelay.from_settings(s, schema or name)
            task = asyncio.create_task(relay.run())
            await stop.wait()
            relay.stop()
            await task
            telemetry.shutdown()

        _run_until_signal(main)

    @chart.command("facts")
    def facts() -> None:
        """What the chart's values must say of each service (JSON): kind, port, projections,
        FHIR resource types and the services whose APIs it calls."""
        print(json.dumps(chart_facts(manifests), indent=2))

    @chart.command("topics")
    def topics(write: Annotated[bool, typer.Option(
            help=f"write {TOPICS_FILE.relative_to(REPO_ROOT)} instead of printing")] = False
               ) -> None:
        """The topic catalogue as the chart's KafkaTopics read it."""
        text = json.dumps(kafka_topics(), indent=2) + "\n"
        if write:
            TOPICS_FILE.write_text(text)
            console.print(f"[green]✓[/] {TOPICS_FILE.relative_to(REPO_ROOT)}")
        else:
            print(text, end="")

    return run, chart


def add_deploy_commands(app: typer.Typer, manifests: Sequence[Manifest]) -> None:
    run, chart = deploy_apps(manifests)
    app.add_typer(run, name="run")
    app.add_typer(chart, name="chart")
